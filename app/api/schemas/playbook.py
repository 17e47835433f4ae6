"""Playbook entries as the API reads and writes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import ListPage, PatchModel, Record, name_of
from app.domain.playbook.playbook import ApprovalState, PlaybookKind

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)]
TagText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
AuthorState = Literal["draft", "pending"]

_TAGS_EXAMPLE: dict[str, Any] = {
    "industry": "医疗",
    "customer_type": "三甲医院",
    "stage_id": None,
    "product_line": "检验试剂",
    "objection_type": "预算有限",
}
_ENTRY_EXAMPLE: dict[str, Any] = {
    "kind": "objection_answer",
    "title": "三甲医院检验科说预算有限",
    "body": "先确认预算周期，再提出分期付款和按检测量结算两种方案，并附上同级医院的案例。",
    "tags": _TAGS_EXAMPLE,
}


class TagsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_TAGS_EXAMPLE]})

    industry: TagText | None = None
    customer_type: TagText | None = None
    stage_id: uuid.UUID | None = Field(default=None, description="A pipeline stage of the organization.")
    product_line: TagText | None = None
    objection_type: TagText | None = None


class TagsOut(BaseModel):
    industry: str | None
    customer_type: str | None
    stage_id: uuid.UUID | None
    stage_name: str | None = name_of("stage")
    product_line: str | None
    objection_type: str | None


class PlaybookEntryCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    **_ENTRY_EXAMPLE,
                    "activity_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
                    "approval_state": "pending",
                }
            ]
        },
    )

    kind: PlaybookKind
    title: Title
    body: Body
    tags: TagsIn = Field(default_factory=TagsIn)
    activity_id: uuid.UUID | None = Field(
        default=None, description="The activity this answer was proposed from (a call, a visit)."
    )
    approval_state: AuthorState = Field(
        default="draft", description="draft (only the author sees it) or pending (sent for approval)."
    )


class PlaybookEntryUpdate(PatchModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"title": "预算有限：分期方案", "approval_state": "pending"}]},
    )

    kind: PlaybookKind | SkipJsonSchema[None] = None
    title: Title | SkipJsonSchema[None] = None
    body: Body | SkipJsonSchema[None] = None
    tags: TagsIn | SkipJsonSchema[None] = Field(default=None, description="Replaces every tag.")
    approval_state: AuthorState | SkipJsonSchema[None] = Field(
        default=None,
        description="The author sends the entry for approval (pending) or takes it back (draft).",
    )


class PlaybookEntryOut(Record):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_ENTRY_EXAMPLE,
                    "id": "6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e",
                    "version": 2,
                    "created_at": "2026-12-07T02:00:00Z",
                    "updated_at": "2026-12-07T03:00:00Z",
                    "author_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "author_name": "王芳",
                    "activity_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
                    "approval_state": "approved",
                    "approval_decided_by_id": "8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e",
                    "approval_decided_at": "2026-12-07T03:00:00Z",
                    "approval_reason": "可以推广",
                    "usage_count": 3,
                }
            ]
        }
    )

    kind: PlaybookKind
    title: str
    body: str
    tags: TagsOut
    author_id: uuid.UUID | None
    author_name: str | None = name_of("author")
    activity_id: uuid.UUID | None
    approval_state: ApprovalState = Field(description="draft -> pending -> approved | rejected.")
    approval_decided_by_id: uuid.UUID | None
    approval_decided_by_name: str | None = name_of("approver")
    approval_decided_at: datetime | None
    approval_reason: str | None
    usage_count: int = Field(description="How often reps recorded using it on an activity.")


class PlaybookEntryPage(ListPage):
    items: list[PlaybookEntryOut]
    next_cursor: str | None = Field(
        description="Null for a search (`q`): it answers its best `limit` entries."
    )


class PlaybookApprovalIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"decision": "approved", "reason": "可以推广"}]}
    )

    decision: Literal["approved", "rejected"]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class PlaybookUseIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"activity_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"}]},
    )

    activity_id: uuid.UUID = Field(description="The call or visit where the answer was used.")


class PlaybookUseOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "9c3d4e5f-6a7b-4c8d-8e9f-0a1b2c3d4e5f",
                    "entry_id": "6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e",
                    "entry_name": "开场白",
                    "activity_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
                    "user_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "user_name": "王芳",
                    "created_at": "2026-12-07T04:00:00Z",
                    "usage_count": 4,
                }
            ]
        }
    )

    id: uuid.UUID
    entry_id: uuid.UUID
    entry_name: str | None = name_of("playbook entry (its title)")
    activity_id: uuid.UUID
    user_id: uuid.UUID | None
    user_name: str | None = name_of("user")
    created_at: datetime
    usage_count: int = Field(description="The entry's count with this use.")
