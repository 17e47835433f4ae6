"""Webhook subscriptions as the API reads and writes them; their delivery log is in deliveries.py."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import PatchModel, Record

EventType = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z_]+\.[a-z_]+)$", max_length=64)]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=50)]
Url = Annotated[AnyHttpUrl, Field(description="https; the host must not resolve to a private address.")]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://erp.example.com/hooks/crm",
                    "event_types": ["lead.assigned", "opportunity.won"],
                }
            ]
        },
    )

    url: Url
    event_types: EventTypes = Field(description='Event types to receive, or ["*"] for all.')


class WebhookUpdate(PatchModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"is_active": True}]})

    url: Url | SkipJsonSchema[None] = None
    event_types: EventTypes | SkipJsonSchema[None] = None
    is_active: bool | SkipJsonSchema[None] = None

    def webhook_changes(self) -> dict[str, Any]:
        changes = self.changes()
        if self.url is not None:
            changes["url"] = str(self.url)
        return changes


_WEBHOOK_EXAMPLE: dict[str, Any] = {
    "id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "version": 1,
    "created_at": "2026-11-23T02:00:00Z",
    "updated_at": "2026-11-23T02:00:00Z",
    "url": "https://erp.example.com/hooks/crm",
    "event_types": ["lead.assigned", "opportunity.won"],
    "is_active": True,
    "disabled_reason": None,
}


class WebhookOut(Record):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_WEBHOOK_EXAMPLE]})

    url: str
    event_types: list[str]
    is_active: bool
    disabled_reason: str | None = Field(description="Why it was disabled, e.g. the receiver answered 410.")


class WebhookCreated(WebhookOut):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [{**_WEBHOOK_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]
        },
    )

    secret: str = Field(description="Standard Webhooks signing secret; shown only in this answer.")


class WebhookPage(BaseModel):
    items: list[WebhookOut]
    next_cursor: str | None
