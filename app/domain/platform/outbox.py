"""The states of an event recorded in the outbox, from recorded to sent."""

from __future__ import annotations

from enum import StrEnum


class OutboxStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    dead = "dead"
