"""Plumbing every feature shares: the unit of work, outbox, audit, jobs, paging, visibility."""
