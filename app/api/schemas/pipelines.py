"""Pipelines, opportunities, their stage history and tasks as the API reads and writes them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import (
    JsonInteger,
    ListPage,
    NotNull,
    PatchModel,
    Record,
    StoredMoney,
    Timestamp,
    name_of,
)
from app.api.schemas.content_checks import ContentChecked, checking
from app.api.schemas.leads import CustomFields, Money, Notes
from app.domain.models import OpportunityStatus, TaskStatus
from app.domain.pipelines.pipelines import (
    MAX_ORDERING_RULES,
    MAX_STAGES,
    MIN_STAGES,
    Move,
    OrderingRule,
    StageSpec,
    check_ordering_rule_list,
    check_stage_list,
)

PipelineName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]
LoseReason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
ProductLines = Annotated[
    list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]],
    Field(max_length=20),
]
LongText = Annotated[str, StringConstraints(max_length=5000)]

_STAGE_EXAMPLE: dict[str, Any] = {
    "name": "报价谈判",
    "kind": "open",
    "probability": 70,
    "required_fields": ["amount", "expected_close_date"],
    "required_evidence": [{"kind": "activity", "min_count": 1, "activity_types": ["demo"]}],
    "max_dwell_hours": 240,
    "actions": [
        {"title": "发送案例资料", "due_after_business_hours": 48},
        {"title": "满意度回访", "due_after_business_hours": 72},
    ],
}


class StageIn(StageSpec):
    """A stage as written; send `id` to keep an existing stage (and its opportunities) in place."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_STAGE_EXAMPLE]})

    id: uuid.UUID | None = None

    def spec(self) -> dict[str, Any]:
        """The stage's configuration as stored (without the id)."""
        return self.model_dump(mode="json", exclude={"id"})


# Each stage and rule is checked by the schema (the domain's models); these are the rules of the
# lists as a whole, which join the schema's errors in one 422.
_PIPELINE_CHECKS = (
    checking("stages", check_stage_list, of_the_whole=True),
    checking("ordering_rules", check_ordering_rule_list, of_the_whole=True),
)
Stages = Annotated[list[StageIn], Field(min_length=MIN_STAGES, max_length=MAX_STAGES)]
OrderingRules = Annotated[list[OrderingRule], Field(max_length=MAX_ORDERING_RULES)]


class PipelineCreate(ContentChecked):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "工程项目流程",
                    "stages": [
                        {"name": "初步接触", "kind": "open", "probability": 10},
                        _STAGE_EXAMPLE,
                        {"name": "赢单", "kind": "won", "probability": 100},
                        {"name": "输单", "kind": "lost", "probability": 0},
                    ],
                    "ordering_rules": [{"first": "demo", "then": "quote_sent", "mode": "reject"}],
                    "lose_reasons": ["价格过高", "选择了竞品"],
                }
            ]
        },
    )

    content_checks = _PIPELINE_CHECKS

    name: PipelineName
    stages: Stages
    ordering_rules: OrderingRules = Field(default_factory=list)
    lose_reasons: Annotated[list[LoseReason], Field(max_length=30)] | None = None
    is_default: StrictBool = False

    def stage_dicts(self) -> list[dict[str, Any]]:
        return [stage.spec() for stage in self.stages]

    def ordering_rule_dicts(self) -> list[dict[str, Any]]:
        return [rule.model_dump(mode="json") for rule in self.ordering_rules]


class PipelineUpdate(ContentChecked, PatchModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "工程项目流程（2027版）", "is_default": True}]},
    )

    content_checks = _PIPELINE_CHECKS

    name: PipelineName | SkipJsonSchema[None] = None
    stages: Stages | None = NotNull
    ordering_rules: OrderingRules | None = NotNull
    lose_reasons: Annotated[list[LoseReason], Field(max_length=30)] | SkipJsonSchema[None] = None
    is_default: StrictBool | SkipJsonSchema[None] = None

    def pipeline_changes(self) -> dict[str, Any]:
        changes = self.changes()
        if self.stages is not None:
            changes["stages"] = [{**stage.spec(), "id": stage.id} for stage in self.stages]
        return changes


class StageOut(StageSpec):
    # An answer lists every field (defaults included) and may gain fields; the stored stage was
    # validated when written.
    model_config = ConfigDict(
        from_attributes=True, extra="ignore", json_schema_serialization_defaults_required=True
    )

    id: uuid.UUID
    position: int


class PipelineOut(Record):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                    "version": 1,
                    "created_at": "2026-11-23T02:00:00Z",
                    "updated_at": "2026-11-23T02:00:00Z",
                    "name": "B2B 标准流程",
                    "is_default": True,
                    "ordering_rules": [{"first": "demo", "then": "quote_sent", "mode": "flag"}],
                    "lose_reasons": ["价格过高"],
                    "stages": [
                        {**_STAGE_EXAMPLE, "id": "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a", "position": 3}
                    ],
                }
            ]
        },
    )

    name: str
    is_default: bool
    ordering_rules: list[OrderingRule]
    lose_reasons: list[str]
    stages: list[StageOut]


class PipelinePage(ListPage):
    items: list[PipelineOut]


_OPPORTUNITY_EXAMPLE: dict[str, Any] = {
    "name": "申华大厦屋面防水工程",
    "customer_id": "3e4f5a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b",
    "contact_id": None,
    "amount": "860000.00",
    "currency": "CNY",
    "expected_close_date": "2027-01-15",
    "product_lines": ["防水材料"],
    "description": "屋面及地下室防水，约1.2万平米",
}


class OpportunityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_OPPORTUNITY_EXAMPLE]})

    name: Title
    customer_id: uuid.UUID
    pipeline_id: uuid.UUID | None = Field(
        default=None, description="Default: the organization's default pipeline."
    )
    contact_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    amount: Money | None = None
    currency: Currency = "CNY"
    expected_close_date: date | None = None
    source_lead_id: uuid.UUID | None = None
    product_lines: ProductLines = Field(default_factory=list)
    description: LongText | None = None
    competitors: LongText | None = None
    decision_process: LongText | None = None
    campaign_id: uuid.UUID | None = Field(
        default=None, description="The campaign the deal is credited to; default the source lead's."
    )
    custom_fields: CustomFields = Field(
        default_factory=dict,
        description="Values of the organization's opportunity custom fields "
        "(settings.custom_fields.opportunity).",
    )


ManualProbability = Annotated[int, Field(ge=0, le=100), JsonInteger]


class OpportunityUpdate(PatchModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"amount": "920000.00", "competitors": "东方雨虹"}]}
    )
    nullable_fields = frozenset(
        {
            "contact_id",
            "amount",
            "expected_close_date",
            "description",
            "competitors",
            "decision_process",
            "manual_win_probability",
            "campaign_id",
        }
    )

    name: Title | SkipJsonSchema[None] = None
    contact_id: uuid.UUID | None = None
    owner_id: uuid.UUID | SkipJsonSchema[None] = None
    amount: Money | None = None
    currency: Currency | SkipJsonSchema[None] = None
    expected_close_date: date | None = None
    product_lines: ProductLines | SkipJsonSchema[None] = None
    description: LongText | None = None
    competitors: LongText | None = None
    decision_process: LongText | None = None
    manual_win_probability: ManualProbability | None = Field(
        default=None,
        description="The rep's own estimate in percent; kept apart from the automatic one, which "
        "never overwrites it. null clears it.",
    )
    campaign_id: uuid.UUID | None = Field(
        default=None, description="The campaign the deal is credited to; null clears it."
    )
    custom_fields: CustomFields | SkipJsonSchema[None] = Field(
        default=None, description="Replaces every custom field value; the required ones must be given."
    )


class OpportunityOut(Record):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    **_OPPORTUNITY_EXAMPLE,
                    "id": "4f5a6b7c-8d9e-4f0a-9b1c-2d3e4f5a6b7c",
                    "version": 3,
                    "created_at": "2026-11-23T02:00:00Z",
                    "updated_at": "2026-11-25T06:30:00Z",
                    "owner_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "owner_name": "王芳",
                    "pipeline_id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                    "pipeline_name": "项目型销售",
                    "stage_id": "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a",
                    "stage_name": "方案",
                    "stage_entered_at": "2026-11-25T06:30:00Z",
                    "status": "open",
                    "source_lead_id": None,
                    "campaign_id": None,
                    "competitors": None,
                    "decision_process": None,
                    "closed_at": None,
                    "lose_reason": None,
                    "external_id": None,
                    "engaged_at": "2026-11-23T02:00:00Z",
                    "win_probability": 42.5,
                    "manual_win_probability": None,
                    "custom_fields": {},
                }
            ]
        },
    )

    name: str
    external_id: str | None = Field(description="The deal's id in the system it was imported from.")
    engaged_at: datetime | None = Field(
        default=None, description="The first stage entry; for an imported deal, its engage date."
    )
    customer_id: uuid.UUID
    customer_name: str | None = name_of("customer")
    contact_id: uuid.UUID | None
    contact_name: str | None = name_of("contact")
    owner_id: uuid.UUID | None
    owner_name: str | None = name_of("owner")
    pipeline_id: uuid.UUID
    pipeline_name: str | None = name_of("pipeline")
    stage_id: uuid.UUID
    stage_name: str | None = name_of("stage")
    stage_entered_at: datetime
    status: OpportunityStatus
    amount: StoredMoney | None
    currency: str
    expected_close_date: date | None
    source_lead_id: uuid.UUID | None
    source_lead_name: str | None = name_of("source lead")
    campaign_id: uuid.UUID | None = Field(
        description="The campaign the deal is credited to: its source lead's, unless set by hand."
    )
    campaign_name: str | None = name_of("campaign")
    product_lines: list[str]
    description: str | None
    competitors: str | None
    decision_process: str | None
    closed_at: datetime | None
    lose_reason: str | None
    win_probability: float = Field(
        description="The automatic estimate in percent: the model's, else the stage's (won 100, "
        "lost 0). Refreshed on stage changes, closes, new activities and retraining; "
        "GET /opportunities/{id}/win-probability explains it as of now."
    )
    manual_win_probability: int | None = Field(description="The rep's own estimate in percent, if set.")
    custom_fields: dict[str, Any]


class OpportunityPage(ListPage):
    items: list[OpportunityOut]


class StageChangeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "to_stage_id": "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a",
                    "note": "客户确认屋面与地下室两个标段，需求清单见附件",
                    "attachment_ids": [],
                    "fields": {"amount": "860000.00", "expected_close_date": "2027-01-15"},
                }
            ]
        },
    )

    to_stage_id: uuid.UUID
    note: Notes | None = None
    reason: Reason | None = Field(default=None, description="Required to skip a stage or move back.")
    attachment_ids: Annotated[list[uuid.UUID], Field(max_length=20)] = Field(
        default_factory=list,
        description="Files counted as gate evidence with the move: each filed on the deal, one of its "
        "activities or its customer. Files uploaded to the deal in this stage count without being sent.",
    )
    fields: OpportunityUpdate = Field(
        default_factory=OpportunityUpdate, description="Opportunity fields to set with the move."
    )


class WinIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "合同已签，预付30%"}]})

    note: Notes | None = None
    attachment_ids: Annotated[list[uuid.UUID], Field(max_length=20)] = Field(
        default_factory=list,
        description="Files counted as gate evidence with the move: each filed on the deal, one of its "
        "activities or its customer. Files uploaded to the deal in this stage count without being sent.",
    )
    fields: OpportunityUpdate = Field(default_factory=OpportunityUpdate)


class LoseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "价格过高"}]})

    reason: LoseReason
    note: Notes | None = None


class ReopenIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "客户重新启动招标"}]}
    )

    reason: Reason


class StageStayOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
                    "stage_id": "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a",
                    "move": "forward",
                    "is_abnormal": False,
                    "reason": None,
                    "entered_at": "2026-11-25T06:30:00Z",
                    "entered_by_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "left_at": None,
                    "dwell_seconds": None,
                }
            ]
        },
    )

    id: uuid.UUID
    stage_id: uuid.UUID
    stage_name: str | None = name_of("stage")
    move: Move | None = Field(description="How the opportunity came in; null for the stage it started in.")
    is_abnormal: bool
    reason: str | None
    entered_at: datetime
    entered_by_id: uuid.UUID | None
    entered_by_name: str | None = name_of("user who moved it into the stage")
    left_at: datetime | None
    dwell_seconds: int | None


class StageHistoryOut(BaseModel):
    items: list[StageStayOut]


class TaskCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "技术部现场勘查",
                    "due_at": "2026-11-26T10:00:00+08:00",
                    "assignee_id": "8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e",
                    "customer_id": "3e4f5a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b",
                    "opportunity_id": "4f5a6b7c-8d9e-4f0a-9b1c-2d3e4f5a6b7c",
                }
            ]
        },
    )

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    due_at: Timestamp
    notes: Notes | None = None
    assignee_id: uuid.UUID | None = Field(
        default=None,
        description="Who does it (default: you). Supervisors and above may give it to any active user "
        "who works tasks, in any team; a rep only to themselves.",
    )
    lead_id: uuid.UUID | None = Field(
        default=None, description="At least one of lead, customer, opportunity."
    )
    customer_id: uuid.UUID | None = Field(
        default=None, description="Default: the lead's (once converted) or the opportunity's customer."
    )
    opportunity_id: uuid.UUID | None = None


class TaskUpdate(PatchModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"due_at": "2026-11-27T10:00:00+08:00"}]}
    )
    nullable_fields = frozenset({"notes"})

    title: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | SkipJsonSchema[None]
    ) = None
    due_at: Timestamp | SkipJsonSchema[None] = None
    notes: Notes | None = None
    assignee_id: uuid.UUID | SkipJsonSchema[None] = None


class TaskCompleteIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"activity_id": None, "cancel": False}]}
    )

    activity_id: uuid.UUID | None = Field(default=None, description="The activity that did the task.")
    cancel: StrictBool = Field(default=False, description="Cancel instead of completing.")


class TaskOut(Record):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e",
                    "version": 1,
                    "created_at": "2026-11-25T06:30:00Z",
                    "updated_at": "2026-11-25T06:30:00Z",
                    "title": "发送案例资料",
                    "notes": None,
                    "assignee_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "assignee_name": "王芳",
                    "due_at": "2026-11-27T06:30:00Z",
                    "status": "open",
                    "overdue": False,
                    "lead_id": None,
                    "opportunity_id": "4f5a6b7c-8d9e-4f0a-9b1c-2d3e4f5a6b7c",
                    "customer_id": "3e4f5a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b",
                    "created_by_id": None,
                    "stage_id": "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a",
                    "completed_at": None,
                    "completed_activity_id": None,
                }
            ]
        },
    )

    title: str
    notes: str | None
    assignee_id: uuid.UUID | None
    assignee_name: str | None = name_of("assignee")
    due_at: datetime
    status: TaskStatus
    overdue: bool = Field(
        description="The red flag: still open settings.tasks.overdue_after_minutes (default 60) after due_at."
    )
    lead_id: uuid.UUID | None
    lead_name: str | None = name_of("lead")
    opportunity_id: uuid.UUID | None
    opportunity_name: str | None = name_of("opportunity")
    customer_id: uuid.UUID | None
    customer_name: str | None = name_of("customer")
    created_by_id: uuid.UUID | None = Field(description="Who asked for it; null for a stage's action pack.")
    created_by_name: str | None = name_of("creator")
    stage_id: uuid.UUID | None = Field(description="Set when the task comes from the stage's action pack.")
    stage_name: str | None = name_of("stage")
    completed_at: datetime | None
    completed_activity_id: uuid.UUID | None


class TaskPage(ListPage):
    items: list[TaskOut]
