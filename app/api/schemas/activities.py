"""Activities as the API reads and writes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import (
    JsonInteger,
    ListPage,
    PatchModel,
    Record,
    Timestamp,
    given,
    name_of,
    unless,
    when,
)
from app.api.schemas.customers import Latitude, Longitude
from app.api.schemas.leads import CustomFields, Notes
from app.domain.activities.activities import ActivityType, CallOutcome, InfoPoint

InfoPoints = Annotated[
    dict[InfoPoint, Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]],
    Field(description="What was learnt: needs, competitors, budget, timeline, decision_maker."),
]

_ACTIVITY_EXAMPLE: dict[str, Any] = {
    "id": "5d6e7f80-91a2-4b3c-8d4e-5f6a7b8c9d0e",
    "version": 1,
    "created_at": "2026-11-23T03:05:00Z",
    "updated_at": "2026-11-23T03:05:00Z",
    "type": "visit",
    "occurred_at": "2026-11-23T03:00:00Z",
    "owner_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "owner_name": "王芳",
    "lead_id": None,
    "customer_id": "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901",
    "customer_name": "申华建材",
    "opportunity_id": None,
    "warnings": [],
    "notes": "现场勘察屋面，客户关注工期",
    "info_points": {"needs": "屋面防水 3000㎡", "timeline": "明年3月开工", "budget": "约60万"},
    "call_outcome": None,
    "duration_seconds": None,
    "geo": {"lat": 31.2036, "lng": 121.5912, "accuracy_m": 15.0},
    "distance_m": 21.4,
    "geo_mismatch": False,
    "is_effective": True,
    "late_entry": False,
    "attachment_ids": [],
    "client_id": "h5-2026-11-23-0001",
    "satisfaction": 4,
    "custom_fields": {},
}


class GeoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: Latitude
    lng: Longitude
    accuracy_m: Annotated[StrictFloat, Field(ge=0, le=100_000)]


class ActivityCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "visit",
                    "occurred_at": "2026-11-23T03:00:00Z",
                    "customer_id": "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901",
                    "notes": "现场勘察屋面",
                    "info_points": {
                        "needs": "屋面防水 3000㎡",
                        "timeline": "明年3月开工",
                        "budget": "约60万",
                    },
                    "geo": {"lat": 31.2036, "lng": 121.5912, "accuracy_m": 15},
                    "client_id": "h5-2026-11-23-0001",
                }
            ],
            "allOf": [
                # An activity is about a lead, a customer or a deal.
                {"anyOf": [given("lead_id"), given("customer_id"), given("opportunity_id")]},
                # A visit carries its geo check-in; only a call has an outcome.
                {"anyOf": [unless("type", "visit"), given("geo")]},
                {"anyOf": [when("type", "call"), {"properties": {"call_outcome": {"type": "null"}}}]},
            ],
        },
    )

    id: uuid.UUID | None = None
    type: ActivityType
    occurred_at: Timestamp = Field(description="May be in the past (offline entry); at most 5 minutes ahead.")
    lead_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    opportunity_id: uuid.UUID | None = Field(
        default=None, description="Work on a deal; counts as stage evidence. The customer follows from it."
    )
    notes: Notes | None = None
    info_points: InfoPoints = Field(default_factory=dict)
    call_outcome: CallOutcome | None = None
    duration_seconds: Annotated[int, Field(ge=0, le=24 * 3600), JsonInteger] | None = None
    geo: GeoIn | None = Field(default=None, description="Required for visits.")
    attachment_ids: Annotated[list[uuid.UUID], Field(max_length=20)] = Field(default_factory=list)
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="Set by offline clients: a retry with the same client_id returns the same activity.",
    )
    satisfaction: Annotated[int, Field(ge=1, le=5), JsonInteger] | None = Field(
        default=None,
        description="The customer's answer to a satisfaction survey (1 = very unhappy, 5 = very happy), "
        "taken during this activity; customer health averages the last 12 months.",
    )
    custom_fields: CustomFields = Field(
        default_factory=dict,
        description="Values of the organization's activity custom fields (settings.custom_fields.activity).",
    )


class ActivityUpdate(PatchModel):
    """What may change after the fact. The type, `occurred_at`, the geo check-in, the call's
    outcome and duration, the info points, satisfaction, attachments and the linked records are
    the audit trail's facts (first response, SLA clocks and KPIs were derived from them): they are
    not in this schema, and sending one answers 422 naming it."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"notes": "现场勘察屋面，客户关注工期；补记：下周二再约技术交流"}]}
    )
    nullable_fields = frozenset({"notes"})

    notes: Notes | None = Field(default=None, description="null clears the notes.")
    custom_fields: CustomFields | SkipJsonSchema[None] = Field(
        default=None,
        description="Replaces every custom field value (settings.custom_fields.activity); the required "
        "ones must be given.",
    )


class GeoOut(BaseModel):
    lat: float
    lng: float
    accuracy_m: float


class ActivityOut(Record):
    model_config = ConfigDict(json_schema_extra={"examples": [_ACTIVITY_EXAMPLE]})

    type: ActivityType
    occurred_at: datetime
    owner_id: uuid.UUID | None
    owner_name: str | None = name_of("owner")
    lead_id: uuid.UUID | None
    lead_name: str | None = name_of("lead")
    customer_id: uuid.UUID | None
    customer_name: str | None = name_of("customer")
    opportunity_id: uuid.UUID | None
    opportunity_name: str | None = name_of("opportunity")
    warnings: list[str] = Field(description="Process rules this activity broke without being refused.")
    notes: str | None
    info_points: dict[str, str]
    call_outcome: CallOutcome | None
    duration_seconds: int | None
    geo: GeoOut | None
    distance_m: float | None
    geo_mismatch: bool
    is_effective: bool
    late_entry: bool = Field(
        description="Entered more than the organization's activity_entry.late_entry_hours after "
        "occurred_at: kept, but it answers first-response and SLA clocks at its entry time "
        "(created_at) and activity KPIs leave it out."
    )
    attachment_ids: list[uuid.UUID]
    client_id: str | None
    satisfaction: int | None
    custom_fields: dict[str, Any]


class ActivityPage(ListPage):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_ACTIVITY_EXAMPLE], "next_cursor": None}]}
    )

    items: list[ActivityOut]
