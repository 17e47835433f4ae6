"""Next-best actions of a deal and the golden hour of a customer's calls."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.common import name_of
from app.domain.pipelines.next_actions import CallBasis, MiningBasis

_CONTACT_TIMES_EXAMPLE: dict[str, Any] = {
    "customer_id": "2b3c4d5e-6f70-4a81-92a3-b4c5d6e7f809",
    "basis": "customer",
    "timezone": "Asia/Shanghai",
    "since": "2026-06-10T02:00:00Z",
    "min_customer_calls": 10,
    "customer_calls": 14,
    "attempts": 14,
    "connected": 8,
    "connect_rate": 0.5714,
    "best_slots": [
        {"weekday": 2, "hour": 10, "attempts": 4, "connected": 4, "connect_rate": 1.0},
        {"weekday": 4, "hour": 15, "attempts": 3, "connected": 2, "connect_rate": 0.6667},
    ],
}


class SlotOut(BaseModel):
    weekday: int = Field(description="ISO weekday in the organization's time zone: 1 Monday … 7 Sunday.")
    hour: int = Field(description="Hour of the day there, 0–23.")
    attempts: int = Field(description="Calls made in this slot.")
    connected: int = Field(description="Of them, calls with outcome connected.")
    connect_rate: float = Field(description="connected / attempts.")


class ContactTimesOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_CONTACT_TIMES_EXAMPLE]})

    customer_id: uuid.UUID
    basis: CallBasis = Field(
        description="customer: its own calls; organization: too few of its own, so the whole "
        "organization's; insufficient_history: too few calls either way (no slots)."
    )
    timezone: str = Field(description="The organization's time zone, in which weekdays and hours are read.")
    since: datetime = Field(description="Calls from this instant on are counted (the past 180 days).")
    min_customer_calls: int = Field(
        description="The customer's calls needed for its own pattern "
        "(settings.next_actions.min_customer_calls, default 10)."
    )
    customer_calls: int = Field(description="The customer's own calls counted.")
    attempts: int = Field(description="Calls counted on the basis named (the denominator).")
    connected: int = Field(description="Of them, connected (the numerator).")
    connect_rate: float | None = Field(description="connected / attempts; null without calls.")
    best_slots: list[SlotOut] = Field(
        description="Up to 3 slots with at least 2 calls and one connected: the highest connect rate "
        "first, then the most calls."
    )


class SuggestionOut(BaseModel):
    activity_type: str = Field(
        description="What to do: call, visit, meeting, email, message, demo, quote_sent."
    )
    support: int = Field(description="Won deals that did it in this stage (the win rate's numerator).")
    closed_with: int = Field(
        description="Closed deals, won or lost, that did it in this stage (the denominator)."
    )
    win_rate: float = Field(description="support / closed_with.")
    lift: float = Field(description="win_rate minus the stage's base win rate.")
    median_hours_after_entry: float = Field(
        description="Median hours from entering the stage to the first such activity, over the won deals."
    )
    due_by: datetime = Field(description="This deal's stage entry plus the median hours.")
    overdue: bool = Field(description="due_by has passed.")


class HistoryOut(BaseModel):
    since: datetime = Field(
        description="Deals closed from this instant on are mined: the past "
        "settings.next_actions.lookback_days (default 365) days."
    )
    closed_deals: int = Field(description="Closed deals of the pipeline that passed through the stage.")
    won_deals: int = Field(description="Of them, won (the base win rate's numerator).")
    base_win_rate: float | None = Field(description="won_deals / closed_deals; null without closed deals.")
    min_support: int = Field(
        description="Won deals needed for any suggestion, and per suggested activity "
        "(settings.next_actions.min_support, default 3)."
    )


class PackTaskOut(BaseModel):
    id: uuid.UUID
    title: str
    due_at: datetime
    assignee_id: uuid.UUID | None
    assignee_name: str | None = name_of("assignee")
    overdue: bool


class NextActionsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "opportunity_id": "4f5a6b7c-8d9e-4f0a-9b1c-2d3e4f5a6b7c",
                    "pipeline_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "stage_id": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
                    "stage_name": "方案呈现",
                    "stage_entered_at": "2026-12-01T02:00:00Z",
                    "basis": "won_deals",
                    "history": {
                        "since": "2025-12-07T02:00:00Z",
                        "closed_deals": 40,
                        "won_deals": 16,
                        "base_win_rate": 0.4,
                        "min_support": 3,
                    },
                    "suggestions": [
                        {
                            "activity_type": "demo",
                            "support": 12,
                            "closed_with": 15,
                            "win_rate": 0.8,
                            "lift": 0.4,
                            "median_hours_after_entry": 52.5,
                            "due_by": "2026-12-03T06:30:00Z",
                            "overdue": True,
                        }
                    ],
                    "action_pack_tasks": [
                        {
                            "id": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
                            "title": "发送案例资料",
                            "due_at": "2026-12-03T10:00:00Z",
                            "assignee_id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
                            "overdue": True,
                        }
                    ],
                    "contact_times": _CONTACT_TIMES_EXAMPLE,
                    "generated_at": "2026-12-07T02:00:00Z",
                }
            ]
        }
    )

    opportunity_id: uuid.UUID
    pipeline_id: uuid.UUID
    pipeline_name: str | None = name_of("pipeline")
    stage_id: uuid.UUID
    stage_name: str
    stage_entered_at: datetime
    basis: MiningBasis = Field(
        description="won_deals: mined from the history; insufficient_history: fewer won deals passed "
        "through the stage than min_support, so nothing is suggested."
    )
    history: HistoryOut
    suggestions: list[SuggestionOut] = Field(
        description="Up to 3 activity types this deal has not done since entering the stage: the "
        "highest lift first, then the most support."
    )
    action_pack_tasks: list[PackTaskOut] = Field(
        description="The stage's action-pack tasks of this deal still open, the soonest due first."
    )
    contact_times: ContactTimesOut = Field(description="When to call the deal's customer.")
    generated_at: datetime
