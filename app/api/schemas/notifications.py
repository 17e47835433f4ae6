"""In-app notifications of the signed-in user."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.api.schemas.common import ListPage

_NOTE_EXAMPLE: dict[str, Any] = {
    "id": "3a4b5c6d-7e8f-4091-a2b3-c4d5e6f7a8b9",
    "topic": "team.member_added",
    "title": "您已加入团队 华东一组",
    "body": "您已被加入团队 华东一组。",
    "data": {"team_id": "0d7f6a3e-1c2b-4d5e-8f9a-0b1c2d3e4f5a", "team_name": "华东一组"},
    "created_at": "2026-11-22T08:00:00Z",
    "read_at": None,
}


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_NOTE_EXAMPLE]})

    id: uuid.UUID
    topic: str
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


class NotificationPage(ListPage):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_NOTE_EXAMPLE], "next_cursor": None}]}
    )

    items: list[NotificationOut]
