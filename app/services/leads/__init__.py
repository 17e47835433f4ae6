"""Leads: web-form intake, de-duplication, qualification, the public pool, merging, bulk edits."""
