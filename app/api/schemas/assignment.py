"""Assignment rules, simulations, and the lead pool's claim / release / assign bodies."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import JsonInteger, ListPage, PatchModel, Record, name_of, names_of
from app.api.schemas.content_checks import ContentChecked, checking
from app.api.schemas.leads import CustomFields, Money, ShortText, Tags
from app.domain.assignment.assignment import MAX_CONDITIONS, MAX_WEIGHT, Operator, Strategy, parse_conditions
from app.domain.leads.leads import LeadSource

RuleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]
ConditionValue = (
    Annotated[str, StringConstraints(max_length=200)]
    | float
    | int
    | list[Annotated[str, StringConstraints(max_length=200)] | float | int]
)
Priority = Annotated[int, Field(ge=0, le=100_000), JsonInteger]
Cap = Annotated[int, Field(ge=1, le=100_000), JsonInteger]
Ids = Annotated[list[uuid.UUID], Field(max_length=200)]
Weights = Annotated[
    dict[uuid.UUID, Annotated[int, Field(ge=0, le=MAX_WEIGHT), JsonInteger]], Field(max_length=200)
]

_RULE_EXAMPLE: dict[str, Any] = {
    "name": "华东防水大客户",
    "priority": 10,
    "enabled": True,
    "conditions": [
        {"field": "region", "operator": "eq", "value": "华东"},
        {"field": "product_line", "operator": "in", "value": ["防水材料", "保温材料"]},
        {"field": "budget", "operator": "gte", "value": 500000},
    ],
    "strategy": "round_robin",
    "user_ids": [],
    "team_ids": ["0b7c1d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"],
    "weights": {},
    "max_open_leads": 80,
    "max_new_per_day": 15,
}


class ConditionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(
        max_length=100,
        description="region, product_line, industry, source, budget, tags, company or custom_fields.<key>",
    )
    operator: Operator
    value: ConditionValue


class RuleCreate(ContentChecked):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_RULE_EXAMPLE]})
    content_checks = (checking("conditions", parse_conditions),)

    name: RuleName
    priority: Priority = Field(description="Lower runs first.")
    enabled: StrictBool = True
    conditions: Annotated[list[ConditionIn], Field(max_length=MAX_CONDITIONS)] = Field(
        default_factory=list, description="All must hold; none = matches every lead."
    )
    strategy: Strategy
    user_ids: Ids = Field(default_factory=list)
    team_ids: Ids = Field(default_factory=list)
    weights: Weights = Field(default_factory=dict, description="weighted: user id -> weight (default 1).")
    max_open_leads: Cap | None = None
    max_new_per_day: Cap | None = None

    def values(self) -> dict[str, Any]:
        data = self.model_dump(mode="python")
        data["conditions"] = [c.model_dump(mode="json") for c in self.conditions]
        return data


class RuleUpdate(ContentChecked, PatchModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"enabled": False}]})
    content_checks = (checking("conditions", parse_conditions),)
    nullable_fields = frozenset({"max_open_leads", "max_new_per_day"})

    name: RuleName | SkipJsonSchema[None] = None
    priority: Priority | SkipJsonSchema[None] = None
    enabled: StrictBool | SkipJsonSchema[None] = None
    conditions: Annotated[list[ConditionIn], Field(max_length=MAX_CONDITIONS)] | SkipJsonSchema[None] = None
    strategy: Strategy | SkipJsonSchema[None] = None
    user_ids: Ids | SkipJsonSchema[None] = None
    team_ids: Ids | SkipJsonSchema[None] = None
    weights: Weights | SkipJsonSchema[None] = None
    max_open_leads: Cap | None = None
    max_new_per_day: Cap | None = None

    def rule_changes(self) -> dict[str, Any]:
        changes = self.changes()
        if "conditions" in changes:
            changes["conditions"] = [
                ConditionIn.model_validate(c).model_dump(mode="json") for c in changes["conditions"]
            ]
        return changes


class ConditionOut(BaseModel):
    field: str
    operator: Operator
    value: Any


class RuleOut(Record):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    **_RULE_EXAMPLE,
                    "id": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
                    "version": 1,
                    "created_at": "2026-11-23T02:00:00Z",
                    "updated_at": "2026-11-23T02:00:00Z",
                    "position": 0,
                }
            ]
        },
    )

    name: str
    priority: int
    enabled: bool
    conditions: list[ConditionOut]
    strategy: Strategy
    user_ids: list[uuid.UUID]
    user_names: list[str | None] = names_of("users")
    team_ids: list[uuid.UUID]
    team_names: list[str | None] = names_of("teams")
    weights: dict[uuid.UUID, int]
    max_open_leads: int | None
    max_new_per_day: int | None
    position: int = Field(description="The rotation pointer of round_robin and weighted.")


class RulePage(ListPage):
    items: list[RuleOut]


class SimulationIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"region": "华东", "product_line": "防水材料", "source": "exhibition", "budget": "600000"}
            ]
        },
    )

    region: ShortText | None = None
    product_line: ShortText | None = None
    industry: ShortText | None = None
    source: LeadSource = LeadSource.api
    budget: Money | None = None
    company: Annotated[str, StringConstraints(max_length=200)] | None = None
    tags: Tags = Field(default_factory=list)
    custom_fields: CustomFields = Field(default_factory=dict)


class RuleEvaluationOut(BaseModel):
    rule_id: uuid.UUID
    rule_name: str
    matched: bool
    failed_conditions: list[ConditionOut]


class CandidateOut(BaseModel):
    user_id: uuid.UUID
    name: str
    open_leads: int
    new_today: int
    weight: int
    eligible: bool
    ineligible_reason: str | None


class SimulationOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "matched_rule_id": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
                    "matched_rule_name": "华东防水大客户",
                    "strategy": "round_robin",
                    "evaluations": [],
                    "candidates": [],
                    "fallback": None,
                    "fallback_candidates": [],
                    "chosen_user_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "chosen_user_name": "王芳",
                    "outcome": "assigned",
                    "reason": "rule '华东防水大客户': round_robin turn 3 of 4",
                }
            ]
        }
    )

    matched_rule_id: uuid.UUID | None
    matched_rule_name: str | None
    strategy: Strategy | None
    evaluations: list[RuleEvaluationOut]
    candidates: list[CandidateOut]
    fallback: str | None = Field(description="team or pool when the rules gave nobody")
    fallback_candidates: list[CandidateOut]
    chosen_user_id: uuid.UUID | None
    chosen_user_name: str | None = name_of("chosen user")
    outcome: str = Field(description="assigned or pooled")
    reason: str


class AssignIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"user_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "reason": "客户指定对接人"}]
        },
    )

    user_id: uuid.UUID
    reason: Reason


class ReleaseIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "客户暂无需求，半年后再联系"}]}
    )

    reason: Reason
