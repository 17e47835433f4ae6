"""Use cases: load, apply domain rules, persist and record outbox events. They flush, never commit."""

# The change log's flush hook is registered on import, so every session writing synced records logs them.
from app.services.platform import change_log as _change_log  # noqa: F401
