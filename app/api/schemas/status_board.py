"""The status board as the API reads it: rows with their plan and colour, and the counts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.common import ListPage
from app.domain.sla.sla import RagStatus, SubjectType, TimerState

_OWNER_EXAMPLE: dict[str, Any] = {"id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "display_name": "王芳"}


class OwnerRefOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    display_name: str


class NextTaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    due_at: datetime


class BoardTimerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    policy_name: str
    state: TimerState
    due_at: datetime


class StatusBoardItemOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subject_type": "opportunity",
                    "subject_id": "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e",
                    "name": "申华大厦屋面防水工程",
                    "owner": _OWNER_EXAMPLE,
                    "plan_due_at": "2026-11-24T02:00:00Z",
                    "late_by_seconds": 187200,
                    "rag": "yellow",
                    "no_plan": False,
                    "next_task": {
                        "id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                        "title": "提交技术方案",
                        "due_at": "2026-11-24T02:00:00Z",
                    },
                    "timer": {
                        "id": "0f1a2b3c-4d5e-4f6a-9b7c-8d9e0f1a2b3c",
                        "policy_name": "方案阶段停留",
                        "state": "breached",
                        "due_at": "2026-11-25T10:00:00Z",
                    },
                }
            ]
        }
    )

    subject_type: SubjectType
    subject_id: uuid.UUID
    name: str
    owner: OwnerRefOut | None = Field(description="None while the record waits for an owner.")
    plan_due_at: datetime | None = Field(
        description="The earliest due_at of the record's open tasks and live SLA timers."
    )
    late_by_seconds: int | None = Field(
        description="Now minus plan_due_at; 0 while on or ahead of plan, null without a plan."
    )
    rag: RagStatus = Field(
        description="green on plan or without one; yellow late by rag_yellow_after_hours (default 24) "
        "up to rag_red_after_hours (default 72); red later."
    )
    no_plan: bool = Field(description="No open task and no live SLA timer: green, but nothing is planned.")
    next_task: NextTaskOut | None = Field(description="The open task due first.")
    timer: BoardTimerOut | None = Field(description="The live SLA timer due first.")


class StatusBoardPage(ListPage):
    items: list[StatusBoardItemOut]


class RagCountsOut(BaseModel):
    green: int
    yellow: int
    red: int
    total: int


class OwnerRagCountsOut(RagCountsOut):
    owner: OwnerRefOut | None = Field(description="None for records that wait for an owner.")


class RagThresholdsOut(BaseModel):
    yellow_after_hours: int
    red_after_hours: int


class StatusBoardSummaryOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-27T02:00:00Z",
                    "overdue_tasks": 3,
                    "thresholds": {"yellow_after_hours": 24, "red_after_hours": 72},
                    "counts": {"green": 31, "yellow": 6, "red": 2, "total": 39},
                    "owners": [
                        {"owner": _OWNER_EXAMPLE, "green": 12, "yellow": 3, "red": 2, "total": 17},
                        {
                            "owner": {"id": "8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e", "display_name": "李强"},
                            "green": 19,
                            "yellow": 3,
                            "red": 0,
                            "total": 22,
                        },
                    ],
                }
            ]
        }
    )

    as_of: datetime = Field(description="The instant the colours were computed at.")
    thresholds: RagThresholdsOut
    counts: RagCountsOut
    owners: list[OwnerRagCountsOut] = Field(description="Per owner, the most red first.")
    overdue_tasks: int = Field(
        description="Open tasks you see that are overdue (the red flag: tasks.overdue_after_minutes "
        "past due_at); owner_id and team_id filter them by assignee, subject_type does not."
    )
