"""Accounts, roles, reviewer credential profiles, log-in and API tokens."""
