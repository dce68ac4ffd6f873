"""Billing: rounding, customer classes, tariffs, rating finished legs into xDRs."""
