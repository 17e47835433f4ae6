"""SLA policies and timers as the API reads and writes them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import JsonInteger, ListPage, PatchModel, Record, given, name_of, when
from app.api.schemas.content_checks import ContentChecked, checking
from app.domain.sla.sla import MAX_TARGET_MINUTES, RagStatus, SlaKind, TimerState, check_target, parse_rules

PolicyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Target = Annotated[int, Field(ge=1, le=MAX_TARGET_MINUTES), JsonInteger]

_RULES_EXAMPLE: dict[str, Any] = {
    "warn_percent": 80,
    "steps": [{"after_minutes": 0, "notify": ["supervisor"]}, {"after_minutes": 240, "notify": ["director"]}],
    "sources": ["web_form", "phone_400"],
    "tiers": [],
}


def _kind_of(body: Mapping[str, Any]) -> SlaKind | None:
    try:
        return SlaKind(str(body.get("kind")))
    except ValueError:
        return None


def _check_target(body: Mapping[str, Any]) -> None:
    kind = _kind_of(body)
    if kind is not None:
        check_target(kind, body.get("target_minutes"))


def _check_rules(body: Mapping[str, Any]) -> None:
    """The rules, with the escalation actions the new policy's kind allows."""
    checking("rules", lambda rules: parse_rules(rules, _kind_of(body)))(body)


class SlaPolicyCreate(ContentChecked):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "线索30分钟首响",
                    "kind": "first_response",
                    "target_minutes": 30,
                    "rules": _RULES_EXAMPLE,
                }
            ],
            # Only a stage-dwell policy may leave its target to the stages' max_dwell_hours.
            "anyOf": [when("kind", "stage_dwell"), given("target_minutes")],
        },
    )

    content_checks = (_check_target, _check_rules)

    name: PolicyName
    kind: SlaKind
    target_minutes: Target | None = Field(
        default=None, description="Business minutes; stage_dwell may leave it to the stage's max_dwell_hours."
    )
    rules: dict[str, Any] = Field(
        default_factory=dict,
        description="warn_percent (1-99, default 80); steps [{after_minutes past due, notify: owner | "
        "supervisor | director}]; sources (first_response) and tiers (follow_up) it applies to.",
    )
    enabled: StrictBool = True


class SlaPolicyUpdate(ContentChecked, PatchModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": False}]})
    # The kind is the stored policy's: the service checks the actions it allows.
    content_checks = (checking("rules", parse_rules),)
    nullable_fields = frozenset({"target_minutes"})

    name: PolicyName | SkipJsonSchema[None] = None
    target_minutes: Target | None = None
    rules: dict[str, Any] | SkipJsonSchema[None] = None
    enabled: StrictBool | SkipJsonSchema[None] = None


class SlaPolicyOut(Record):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "9e0f1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b",
                    "version": 1,
                    "created_at": "2026-11-23T02:00:00Z",
                    "updated_at": "2026-11-23T02:00:00Z",
                    "name": "线索30分钟首响",
                    "kind": "first_response",
                    "enabled": True,
                    "target_minutes": 30,
                    "rules": _RULES_EXAMPLE,
                }
            ]
        },
    )

    name: str
    kind: SlaKind
    enabled: bool
    target_minutes: int | None
    rules: dict[str, Any]


class SlaPolicyPage(ListPage):
    items: list[SlaPolicyOut]


class SlaTimerOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "0f1a2b3c-4d5e-4f6a-9b7c-8d9e0f1a2b3c",
                    "policy_id": "9e0f1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b",
                    "policy_name": "线索30分钟首响",
                    "kind": "first_response",
                    "subject_type": "lead",
                    "subject_id": "6f1d2c3b-4a59-4e8f-9d7c-1b2a3c4d5e6f",
                    "owner_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "owner_name": "王芳",
                    "state": "breached",
                    "level": 0,
                    "started_at": "2026-11-27T09:50:00Z",
                    "warn_at": "2026-11-30T01:14:00Z",
                    "due_at": "2026-11-30T01:20:00Z",
                    "stopped_at": None,
                    "rag": "green",
                }
            ]
        },
    )

    id: uuid.UUID
    policy_id: uuid.UUID
    policy_name: str | None = name_of("policy")
    kind: SlaKind
    subject_type: str
    subject_id: uuid.UUID
    subject_name: str | None = name_of("subject")
    owner_id: uuid.UUID | None
    owner_name: str | None = name_of("owner")
    state: TimerState
    level: int = Field(description="Escalation levels reached.")
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    rag: RagStatus = Field(
        description="Now, by the organization's thresholds: green on plan (or stopped), yellow late by "
        "rag_yellow_after_hours (default 24) up to rag_red_after_hours (default 72), red later."
    )


class SlaTimerPage(ListPage):
    items: list[SlaTimerOut]
