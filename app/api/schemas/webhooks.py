"""Webhook subscriptions as the API reads and writes them; their delivery log is in deliveries.py."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StrictBool, StringConstraints
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema

from app.api.schemas.common import JsonInteger, ListPage, PatchModel, Record
from app.domain.notifications.channels import ALL_EVENTS
from app.domain.notifications.events import event_topics

MAX_OVERLAP_SECONDS = 7 * 24 * 3600


MAX_EVENT_TYPES = 50


def listing(topics: Iterable[str]) -> WithJsonSchema:
    """The schema of a list of event topics, or ["*"]: an unknown topic is a 422 from the service,
    so the contract lists the known ones."""
    return WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "string", "enum": [ALL_EVENTS, *topics]},
            "minItems": 1,
            "maxItems": MAX_EVENT_TYPES,
        }
    )


EventTypes = Annotated[
    list[Annotated[str, StringConstraints(max_length=64)]],
    Field(min_length=1, max_length=MAX_EVENT_TYPES),
    listing(event_topics()),
]
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
    is_active: StrictBool | SkipJsonSchema[None] = None

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
    "previous_secret_expires_at": None,
}


class WebhookOut(Record):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_WEBHOOK_EXAMPLE]})

    url: str
    event_types: list[str]
    is_active: bool
    disabled_reason: str | None = Field(description="Why it was disabled, e.g. the receiver answered 410.")
    previous_secret_expires_at: datetime | None = Field(
        description="After a secret rotation: until when the replaced secret still signs deliveries."
    )


class WebhookCreated(WebhookOut):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [{**_WEBHOOK_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]
        },
    )

    secret: str | None = Field(
        description=(
            "Standard Webhooks signing secret, shown only in this answer: null when the answer is "
            "replayed for the same Idempotency-Key (the secret is not stored where it could be read)."
        )
    )


class WebhookSecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"overlap_seconds": 86400}]})

    overlap_seconds: Annotated[int, JsonInteger] = Field(
        default=24 * 3600,
        ge=0,
        le=MAX_OVERLAP_SECONDS,
        description=(
            "How long the replaced secret goes on signing deliveries next to the new one (both "
            "signatures in webhook-signature), for the receiver to switch; 0 stops it at once (a leak)."
        ),
    )


class WebhookPage(ListPage):
    items: list[WebhookOut]
