"""Handing a leaving rep's records to a colleague."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app.api.schemas.common import name_of


class HandoverRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"to_user_id": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "deactivate": True}]
        },
    )

    to_user_id: uuid.UUID
    deactivate: StrictBool = Field(default=False, description="Also deactivate the leaving user.")


class HandoverCounts(BaseModel):
    leads: int = Field(description="Open leads moved.")
    customers: int
    opportunities: int = Field(description="Open opportunities moved; won and lost stay as history.")
    tasks: int = Field(description="Open tasks moved.")
    timers: int = Field(description="Running SLA timers moved.")


class HandoverOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "from_user_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "from_user_name": "王芳",
                    "to_user_id": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                    "to_user_name": "赵强",
                    "counts": {"leads": 42, "customers": 17, "opportunities": 9, "tasks": 14, "timers": 5},
                    "deactivated": True,
                }
            ]
        }
    )

    from_user_id: uuid.UUID
    from_user_name: str | None = name_of("user handing over")
    to_user_id: uuid.UUID
    to_user_name: str | None = name_of("user taking over")
    counts: HandoverCounts
    deactivated: bool
