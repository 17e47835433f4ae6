"""The change feed: which records were created, changed or deleted, in the order to apply them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.domain.platform.changes import ChangeOp, EntityType

_CHANGE_EXAMPLE: dict[str, Any] = {
    "change_id": 4711,
    "entity_type": "lead",
    "entity_id": "6f1d2c3b-4a59-4e8f-9d7c-1b2a3c4d5e6f",
    "op": "updated",
    "changed_at": "2026-12-07T02:00:00Z",
}


class ChangeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_CHANGE_EXAMPLE]})

    change_id: int = Field(description="The entry's number; unique, not gap-free, and not the feed's order.")
    entity_type: EntityType
    entity_id: uuid.UUID
    op: ChangeOp = Field(description="deleted: soft-deleted, merged into another record, or erased.")
    changed_at: datetime


class ChangePage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [_CHANGE_EXAMPLE],
                    "next_cursor": "WzEyMzQsNDcxMSwiMjAyNi0xMi0wNyJd",
                    "has_more": False,
                }
            ]
        }
    )

    items: list[ChangeOut]
    next_cursor: str = Field(
        description="Where to read on: pass it as `since` next time, also when this page was empty."
    )
    has_more: bool = Field(description="More entries are ready now; false: poll again later.")
