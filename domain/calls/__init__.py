"""Calls: call legs as events, the call model, call control."""
