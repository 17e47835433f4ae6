"""Use cases: load, apply domain rules, persist and record outbox events. They flush, never commit."""
