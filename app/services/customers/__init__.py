"""Customers and their contacts: the master record, de-duplication, merging and the timeline."""
