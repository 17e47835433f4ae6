"""Customers' tiers and codes, and their contacts' roles."""
