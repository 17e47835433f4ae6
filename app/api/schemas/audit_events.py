"""The audit trail, read-only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.api.schemas.common import ListPage, name_of

_EVENT_EXAMPLE: dict[str, Any] = {
    "id": "0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9",
    "occurred_at": "2026-11-23T03:10:00Z",
    "actor_type": "user",
    "actor_id": "5b0f4c5e-2a7d-4b7e-9f8a-2c1d3e4f5a6b",
    "actor_name": "李明",
    "action": "customer.owner_changed",
    "entity_type": "customer",
    "entity_id": "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901",
    "before": {"owner_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"},
    "after": {"owner_id": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "reason": "handover"},
    "request_id": "4f2a9c1e8b7d4e6f9a0b1c2d3e4f5a6b",
}


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_EVENT_EXAMPLE]})

    id: uuid.UUID
    occurred_at: datetime
    actor_type: str
    actor_id: uuid.UUID | None
    actor_name: str | None = name_of("actor (a user, an API key or an intake form, as `actor_type` says)")
    action: str
    entity_type: str
    entity_id: uuid.UUID
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


class AuditEventPage(ListPage):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_EVENT_EXAMPLE], "next_cursor": None}]}
    )

    items: list[AuditEventOut]
