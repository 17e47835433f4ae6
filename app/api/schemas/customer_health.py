"""A customer's health as the API shows it: the score, its band and each factor's share."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.domain.scores.customer_health import HealthBand, HealthFactor

_CUSTOMER_ID = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901"
_HEALTH_EXAMPLE: dict[str, Any] = {
    "customer_id": _CUSTOMER_ID,
    "score": 74,
    "band": "green",
    "computed_at": "2026-11-23T02:00:00Z",
    "green_min": 70,
    "yellow_min": 50,
    "factors": [
        {
            "factor": "recency",
            "value": 0.857,
            "weight": 30.0,
            "contribution": 26,
            "reason": "Last effective follow-up 9.0 days ago; tier A expects one every 7 days.",
        },
        {
            "factor": "trend",
            "value": 1.0,
            "weight": 15.0,
            "contribution": 15,
            "reason": "4 activities in the last 30 days against 3 per 30 days in the 60 days before.",
        },
        {
            "factor": "won_amount",
            "value": 0.6,
            "weight": 25.0,
            "contribution": 15,
            "reason": "Won 300000.00 in the last 12 months; tier A expects 500000.",
        },
        {
            "factor": "sla_breaches",
            "value": 1.0,
            "weight": 10.0,
            "contribution": 10,
            "reason": "0 open SLA breaches on the customer's records; 3 take every point.",
        },
        {
            "factor": "satisfaction",
            "value": 0.75,
            "weight": 10.0,
            "contribution": 8,
            "reason": "Mean satisfaction 4.00 of 5 over the last 12 months.",
        },
        {
            "factor": "temperature",
            "value": 0.0,
            "weight": 10.0,
            "contribution": 0,
            "reason": "Temperature 0.00 now (half-life 14 days); 10 takes every point.",
        },
    ],
}


class HealthFactorOut(BaseModel):
    factor: HealthFactor
    value: float = Field(description="How well the customer does on this factor, from 0 to 1 (3 decimals).")
    weight: float = Field(description="The factor's weight in the organization's settings.")
    contribution: int = Field(description="Whole points this factor adds to the score.")
    reason: str


class CustomerHealthOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_HEALTH_EXAMPLE]})

    customer_id: uuid.UUID
    score: int = Field(ge=0, le=100, description="The sum of the factors' contributions.")
    band: HealthBand
    computed_at: datetime = Field(description="Computed at this instant, on request (not the stored score).")
    green_min: int = Field(description="Green from this score up.")
    yellow_min: int = Field(description="Yellow from this score up to green; red below.")
    factors: list[HealthFactorOut]


class HealthSnapshotOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    snapshot_on: date = Field(description="The day, in the organization's time zone.")
    score: int
    band: HealthBand
    computed_at: datetime = Field(description="The day's last recompute, whose score this is.")


class CustomerHealthHistoryOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": _CUSTOMER_ID,
                    "from": "2026-11-21",
                    "to": "2026-11-23",
                    "items": [
                        {
                            "snapshot_on": "2026-11-22",
                            "score": 55,
                            "band": "yellow",
                            "computed_at": "2026-11-21T16:05:50Z",
                        },
                        {
                            "snapshot_on": "2026-11-23",
                            "score": 48,
                            "band": "red",
                            "computed_at": "2026-11-22T16:05:50Z",
                        },
                    ],
                }
            ]
        },
        populate_by_name=True,
    )

    customer_id: uuid.UUID
    since: date = Field(alias="from")
    until: date = Field(alias="to")
    items: list[HealthSnapshotOut] = Field(description="One row per day on which the health was computed.")
