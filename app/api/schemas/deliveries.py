"""The delivery log of webhooks and notification channels as the API reads it."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.common import ListPage
from app.domain.models import DeliveryStatus


class DeliveryOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
                    "event_id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
                    "event_type": "lead.assigned",
                    "sequence": 17,
                    "status": "delivered",
                    "attempts": 1,
                    "next_attempt_at": "2026-11-23T02:00:00Z",
                    "created_at": "2026-11-23T02:00:00Z",
                    "delivered_at": "2026-11-23T02:00:01Z",
                    "last_status_code": 204,
                    "last_error": None,
                    "response_excerpt": "",
                    "duration_ms": 38,
                }
            ]
        },
    )

    id: uuid.UUID
    event_id: uuid.UUID = Field(
        description="The event's id; sent to webhooks as webhook-id, the same on retries and replays."
    )
    event_type: str
    sequence: int | None = Field(
        description="Webhooks: the message's number in its subscription (`sequence` in the body); "
        "null for channels."
    )
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None = Field(description="Why the last attempt failed, or why it was skipped.")
    response_excerpt: str | None
    duration_ms: int | None


class DeliveryPage(ListPage):
    items: list[DeliveryOut]
