"""Deleted records an admin or a director may restore."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.common import ListPage, name_of

_DELETED_EXAMPLE: dict[str, Any] = {
    "id": "6f1d2c3b-4a59-4e8f-9d7c-1b2a3c4d5e6f",
    "name": "王工",
    "owner_id": "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a99",
    "owner_name": "王芳",
    "deleted_at": "2026-12-07T02:00:00Z",
    "deleted_by_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "deleted_by_name": "李明",
}


class DeletedRecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_DELETED_EXAMPLE]})

    id: uuid.UUID
    name: str
    owner_id: uuid.UUID | None
    owner_name: str | None = name_of("owner")
    deleted_at: datetime
    deleted_by_id: uuid.UUID | None = Field(description="Who deleted it (null once that user is gone).")
    deleted_by_name: str | None = name_of("user who deleted it")


class DeletedRecordPage(ListPage):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_DELETED_EXAMPLE], "next_cursor": None}]}
    )

    items: list[DeletedRecordOut]
