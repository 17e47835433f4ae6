"""The change feed's vocabulary: which records it follows, what happened to one, and its cursor."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ChangeOp(StrEnum):
    created = "created"
    updated = "updated"
    # Soft-deleted, merged away, erased or removed: the integrator drops its copy.
    deleted = "deleted"


class EntityType(StrEnum):
    """The records an integrator syncs, each named as its API resource in the singular (the table's
    name too, but for `webhook`, a row of `webhook_subscription`)."""

    lead = "lead"
    customer = "customer"
    contact = "contact"
    opportunity = "opportunity"
    activity = "activity"
    task = "task"
    quote = "quote"
    product = "product"
    user = "user"
    team = "team"
    pipeline = "pipeline"
    campaign = "campaign"
    playbook_entry = "playbook_entry"
    webhook = "webhook"
    assignment_rule = "assignment_rule"


@dataclass(frozen=True)
class ChangeCursor:
    """A position in an organization's change log: after the change (`xact_id`, `change_id`).

    `issued_at` is when the position was handed out; a cursor left unused for longer than the
    log's retention may point before entries already pruned, so it is refused (410)."""

    xact_id: int
    change_id: int
    issued_at: datetime

    def encode(self) -> str:
        raw = json.dumps([self.xact_id, self.change_id, self.issued_at.isoformat()], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> ChangeCursor | None:
        """The cursor, or None if `text` is no cursor of this feed."""
        try:
            xact_id, change_id, issued_at = json.loads(
                base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            )
            instant = datetime.fromisoformat(issued_at)
        except (ValueError, TypeError):
            return None
        if type(xact_id) is not int or type(change_id) is not int or instant.tzinfo is None:
            return None
        if xact_id < 0 or change_id < 0:
            return None
        return cls(xact_id=xact_id, change_id=change_id, issued_at=instant)


def parse_entity_types(text: str | None) -> frozenset[EntityType] | None:
    """`lead,customer` as a set of types; None for all. Raises ValueError naming an unknown one."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in EntityType.__members__]
    if unknown or not names:
        raise ValueError(f"unknown type {unknown[0]!r}" if unknown else "no type named")
    return frozenset(EntityType(name) for name in names)
