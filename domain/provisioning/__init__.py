"""Provisioning: what a customer is given to use (numbers now; extensions, phones next)."""
