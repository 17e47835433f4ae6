"""Teams as the API reads and writes them."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import ListPage, PatchModel, Record, name_of, names_of

TeamName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Region = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
MemberIds = Annotated[list[uuid.UUID], Field(max_length=500)]

_TEAM_EXAMPLE: dict[str, Any] = {
    "id": "0d7f6a3e-1c2b-4d5e-8f9a-0b1c2d3e4f5a",
    "version": 2,
    "created_at": "2026-11-22T08:00:00Z",
    "updated_at": "2026-11-22T09:30:00Z",
    "name": "华东一组",
    "region": "华东",
    "supervisor_id": "5b0f4c5e-2a7d-4b7e-9f8a-2c1d3e4f5a6b",
    "supervisor_name": "李明",
    "member_ids": ["7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"],
    "member_names": ["王芳"],
}


class TeamCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "华东一组", "region": "华东", "member_ids": []}]},
    )

    id: uuid.UUID | None = None
    name: TeamName
    region: Region | None = None
    supervisor_id: uuid.UUID | None = None
    member_ids: MemberIds = Field(default_factory=list)


class TeamUpdate(PatchModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"region": "华南"}]})
    nullable_fields = frozenset({"region", "supervisor_id"})

    name: TeamName | SkipJsonSchema[None] = None
    region: Region | None = None
    supervisor_id: uuid.UUID | None = None
    member_ids: MemberIds | SkipJsonSchema[None] = Field(
        default=None, description="Replaces the whole member list."
    )


class TeamOut(Record):
    model_config = ConfigDict(json_schema_extra={"examples": [_TEAM_EXAMPLE]})

    name: str
    region: str | None
    supervisor_id: uuid.UUID | None
    supervisor_name: str | None = name_of("supervisor")
    member_ids: list[uuid.UUID]
    member_names: list[str | None] = names_of("members")


class TeamPage(ListPage):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_TEAM_EXAMPLE], "next_cursor": None}]}
    )

    items: list[TeamOut]
