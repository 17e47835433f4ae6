"""Bodies of POST /leads/bulk and POST /customers/bulk, one shape per action, and their per-item answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from app.api.schemas.assignment import Reason
from app.api.schemas.common import JsonInteger, Problem, given, when
from app.api.schemas.leads import Tags
from app.services.leads.bulk_edits import MAX_ITEMS


def _unique(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(set(ids)) != len(ids):
        raise ValueError("name each record once")
    return ids


Ids = Annotated[
    list[uuid.UUID],
    Field(min_length=1, max_length=MAX_ITEMS, json_schema_extra={"uniqueItems": True}),
    AfterValidator(_unique),
]
SomeTags = Annotated[Tags, Field(min_length=1)]
_LEAD_IDS: Any = ["5d6c1f0e-2b7a-4c3d-9e8f-0a1b2c3d4e5f", "6e7d2a1f-3c8b-4d4e-8f9a-1b2c3d4e5f60"]
_OWNER = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


class LeadBulkAssign(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action": "assign", "lead_ids": _LEAD_IDS, "owner_id": _OWNER, "reason": "区域调整"}
            ]
        },
    )

    action: Literal["assign"]
    lead_ids: Ids
    owner_id: uuid.UUID
    reason: Reason


class LeadBulkRelease(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"action": "release", "lead_ids": _LEAD_IDS, "reason": "暂无需求"}]},
    )

    action: Literal["release"]
    lead_ids: Ids
    reason: Reason


class LeadBulkTag(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"action": "tag", "lead_ids": _LEAD_IDS, "tags": ["展会2026"]}]},
    )

    action: Literal["tag", "untag"]
    lead_ids: Ids
    tags: SomeTags


class LeadBulkSetStatus(BaseModel):
    """qualified runs POST /leads/{id}/qualify, disqualified POST /leads/{id}/disqualify (with reason)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action": "set_status", "lead_ids": _LEAD_IDS, "status": "disqualified", "reason": "无预算"}
            ],
            "anyOf": [when("status", "qualified"), given("reason")],
        },
    )

    action: Literal["set_status"]
    lead_ids: Ids
    status: Literal["qualified", "disqualified"]
    reason: Reason | None = Field(default=None, validate_default=True)

    @field_validator("reason")
    @classmethod
    def _reason_for_disqualified(cls, reason: str | None, info: ValidationInfo) -> str | None:
        # A field validator, so that the error names `reason` (status is validated before it).
        if reason is None and info.data.get("status") == "disqualified":
            raise ValueError("disqualified needs a reason")
        return reason


LeadBulkIn = Annotated[
    LeadBulkAssign | LeadBulkRelease | LeadBulkTag | LeadBulkSetStatus, Field(discriminator="action")
]


class CustomerBulkReassign(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"action": "reassign", "customer_ids": _LEAD_IDS, "owner_id": _OWNER}]
        },
    )

    action: Literal["reassign"]
    customer_ids: Ids
    owner_id: uuid.UUID


class CustomerBulkTag(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"action": "untag", "customer_ids": _LEAD_IDS, "tags": ["重点"]}]},
    )

    action: Literal["tag", "untag"]
    customer_ids: Ids
    tags: SomeTags


CustomerBulkIn = Annotated[CustomerBulkReassign | CustomerBulkTag, Field(discriminator="action")]


class BulkItemOut(BaseModel):
    id: uuid.UUID
    status: Literal["ok", "error"]
    problem: Problem | None = Field(
        default=None, description="Why this item was left as it was (error only): the single route's answer."
    )


class BulkResultOut(BaseModel):
    """One result per id, in request order; an item in error changed nothing."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "action": "assign",
                    "succeeded": 1,
                    "failed": 1,
                    "results": [
                        {"id": _LEAD_IDS[0], "status": "ok"},
                        {
                            "id": _LEAD_IDS[1],
                            "status": "error",
                            "problem": {
                                "type": "https://errors.salescrm.dev/lead.same_owner",
                                "title": "Conflict",
                                "status": 409,
                                "detail": "The lead already belongs to this user.",
                                "code": "lead.same_owner",
                            },
                        },
                    ],
                }
            ]
        }
    )

    action: str
    succeeded: Annotated[int, JsonInteger]
    failed: Annotated[int, JsonInteger]
    results: list[BulkItemOut]
