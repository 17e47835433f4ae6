"""Derived scores: customer health, lead intent and win probability."""
