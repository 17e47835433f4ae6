"""An import job's kinds of record and the states it goes through."""

from __future__ import annotations

from enum import StrEnum


class ImportKind(StrEnum):
    leads = "leads"
    customers = "customers"
    opportunities = "opportunities"


class ImportStatus(StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
