"""Engagement events as integrations send them, and the temperature leads and customers show."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.api.schemas.common import Timestamp, given
from app.domain.scores.engagement import MAX_BATCH, REFERENCES, EngagementType, TemperatureReading


class Engaged(BaseModel):
    """Temperature fields of a lead or a customer. Validated with `context=TemperatureReading`: the
    stored value is cooled to the reading's instant."""

    last_engaged_at: datetime | None = Field(
        validation_alias="temperature_at", description="When the newest engagement event happened."
    )
    temperature: float = Field(
        description="Engagement temperature now (docs/scoring.md#engagement-temperature): each "
        "engagement adds its type's weight, and the sum halves every half-life. 0 without any "
        "engagement; rounded to 0.1.",
        examples=[12.3],
    )

    @field_validator("temperature", mode="before")
    @classmethod
    def _cooled_to_now(cls, stored: float | None, info: ValidationInfo) -> float:
        reading = info.context
        if not isinstance(reading, TemperatureReading):
            raise TypeError("a stored temperature is read as of an instant: pass context=TemperatureReading")
        return reading.of(stored, info.data.get("last_engaged_at"))


EventId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
_EVENT_EXAMPLE: dict[str, Any] = {
    "event_id": "mailer-7f3a9c-open-1",
    "type": "email_open",
    "occurred_at": "2026-11-23T10:15:00+08:00",
    "email": "zhang.wei@shenhua.example",
}


class EngagementEventIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [_EVENT_EXAMPLE],
            # Whom it belongs to: exactly one reference.
            "oneOf": [given(key) for key in REFERENCES],
        },
    )

    event_id: EventId = Field(
        description="The sender's id of the event, unique in the organization: a repeat is accepted "
        "and not counted again."
    )
    type: EngagementType
    occurred_at: Timestamp
    lead_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    customer_code: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)] | None
    ) = Field(default=None, description="The customer's code, e.g. C000123.")
    phone: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32)] | None = (
        Field(default=None, description="A lead's phone, else a contact's (any common format).")
    )
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)] | None = (
        Field(default=None, description="A lead's e-mail, else a contact's.")
    )

    @model_validator(mode="after")
    def _one_reference(self) -> EngagementEventIn:
        given_keys = [key for key in REFERENCES if getattr(self, key) is not None]
        if len(given_keys) != 1:
            raise ValueError(f"give exactly one of {', '.join(REFERENCES)}")
        return self


class EngagementBatchIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        _EVENT_EXAMPLE,
                        {
                            "event_id": "trial-20261123-0042",
                            "type": "trial_login",
                            "occurred_at": "2026-11-23T11:02:00+08:00",
                            "customer_code": "C000123",
                        },
                    ]
                }
            ]
        },
    )

    events: list[EngagementEventIn] = Field(min_length=1, max_length=MAX_BATCH)


def _shape(body: Any) -> str:
    return "batch" if isinstance(body, dict) and "events" in body else "event"


EngagementEventsIn = Annotated[
    Annotated[EngagementEventIn, Tag("event")] | Annotated[EngagementBatchIn, Tag("batch")],
    Discriminator(_shape),
]


class EngagementOutcome(StrEnum):
    created = "created"
    duplicate = "duplicate"


class EngagementResult(BaseModel):
    index: int = Field(description="The event's place in the batch (0 for a single event).")
    event_id: str
    outcome: EngagementOutcome = Field(
        description="created: stored and counted; duplicate: this event id was already recorded "
        "(earlier, or earlier in this batch), so it was not counted again."
    )
    lead_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    customer_id: uuid.UUID | None


class EngagementEventsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "created": 1,
                    "duplicates": 1,
                    "results": [
                        {
                            "index": 0,
                            "event_id": "mailer-7f3a9c-open-1",
                            "outcome": "duplicate",
                            "lead_id": "6f1d2c3b-4a59-4e8f-9d7c-1b2a3c4d5e6f",
                            "contact_id": None,
                            "customer_id": None,
                        },
                        {
                            "index": 1,
                            "event_id": "trial-20261123-0042",
                            "outcome": "created",
                            "lead_id": None,
                            "contact_id": None,
                            "customer_id": "0b9c8d7e-6f5a-4b3c-9d2e-1f0a9b8c7d6e",
                        },
                    ],
                }
            ]
        }
    )

    created: int
    duplicates: int
    results: list[EngagementResult]
