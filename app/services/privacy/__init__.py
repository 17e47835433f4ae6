"""Soft deletion, restore and the PIPL rights: erasure and export of a person's data."""
