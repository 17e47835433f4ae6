"""What became of one delivery of an event to a webhook or a channel."""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    gone = "gone"  # the receiver answered 410: the destination was disabled
    dead = "dead"  # failed for good, or out of retries
    skipped = "skipped"  # nothing to send, e.g. no recipient of a WeCom application message has a WeCom id
