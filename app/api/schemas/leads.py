"""Leads as the API reads and writes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import (
    DecimalText,
    JsonInteger,
    ListPage,
    PatchModel,
    Record,
    StoredMoney,
    given,
    name_of,
)
from app.api.schemas.engagement import Engaged
from app.domain.leads.lead_qualification import FeedbackReason
from app.domain.leads.leads import LeadSource, LeadStatus
from app.domain.platform.tags import MAX_TAG_LENGTH, MAX_TAGS
from app.domain.scores.lead_intent import Signal

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Company = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PhoneText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32)]
EmailText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
Notes = Annotated[str, StringConstraints(max_length=5000)]
Money = Annotated[Decimal, DecimalText(digits=12, places=2, example="250000.00")]
Tags = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_LENGTH)]],
    Field(max_length=MAX_TAGS),
]
CustomFields = Annotated[dict[str, Any], Field(max_length=50)]
UtmText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
_CAMPAIGN_ID = "The campaign that brought the lead in (GET /campaigns); one of the organization's."

_LEAD_EXAMPLE: dict[str, Any] = {
    "id": "6f1d2c3b-4a59-4e8f-9d7c-1b2a3c4d5e6f",
    "version": 1,
    "created_at": "2026-11-23T02:00:00Z",
    "updated_at": "2026-11-23T02:00:00Z",
    "name": "张伟",
    "company": "上海申华建材有限公司",
    "phone": "+8613800138000",
    "email": "zhang.wei@shenhua.example",
    "wechat": "zhangwei_sh",
    "source": "exhibition",
    "region": "华东",
    "product_line": "防水材料",
    "industry": "建筑施工",
    "budget": "250000.00",
    "notes": "展会留资，关注屋面防水",
    "status": "assigned",
    "owner_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "owner_name": "王芳",
    "created_by_id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
    "created_by_name": "市场部 李娜",
    "assigned_at": "2026-11-23T02:00:00Z",
    "first_response_at": None,
    "last_follow_up_at": None,
    "score": 53,
    "score_breakdown": [
        {
            "signal": "contact_frequency",
            "value": 3,
            "weight": 25.0,
            "points": 15,
            "reason": "3 activities in the last 30 days; 5 or more score in full.",
        },
        {
            "signal": "temperature",
            "value": 12.0,
            "weight": 25.0,
            "points": 10,
            "reason": "Engagement temperature 12.0; 30 or more scores in full.",
        },
        {
            "signal": "meeting_attendance",
            "value": 1,
            "weight": 20.0,
            "points": 10,
            "reason": "1 meeting attended; 2 or more score in full.",
        },
        {
            "signal": "budget_known",
            "value": True,
            "weight": 10.0,
            "points": 10,
            "reason": "The budget is known.",
        },
        {
            "signal": "timeframe_known",
            "value": False,
            "weight": 10.0,
            "points": 0,
            "reason": "The purchase timeframe is not known yet.",
        },
        {
            "signal": "source_quality",
            "value": 0.8,
            "weight": 10.0,
            "points": 8,
            "reason": "Source 'exhibition' earns 0.8 of this weight.",
        },
    ],
    "scored_at": "2026-11-23T02:00:00Z",
    "last_engaged_at": "2026-11-22T07:30:00Z",
    "temperature": 12.0,
    "customer_id": None,
    "converted_at": None,
    "disqualified_reason": None,
    "qualified_at": None,
    "qualified_by_id": None,
    "feedback_quality": None,
    "feedback_reasons": [],
    "feedback_comment": None,
    "feedback_by_id": None,
    "feedback_at": None,
    "assignment_rule_id": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
    "assignment_rule_name": "华东防水大客户",
    "assignment_strategy": "round_robin",
    "assignment_reason": "rule '华东防水大客户': round_robin turn 3 of 4",
    "pooled_at": None,
    "previous_owner_id": None,
    "release_reason": None,
    "possible_duplicates": [],
    "tags": ["展会2026"],
    "custom_fields": {},
    "merged_from": None,
    "campaign_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "campaign_name": "2026上海建材展",
    "utm_source": "baidu",
    "utm_medium": "cpc",
    "utm_campaign": "waterproofing_2026q4",
    "utm_term": "屋面防水",
    "utm_content": None,
}


class LeadCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "张伟",
                    "company": "上海申华建材有限公司",
                    "phone": "138-0013-8000",
                    "source": "exhibition",
                    "region": "华东",
                    "product_line": "防水材料",
                }
            ],
            # A lead is reachable: a phone number, an e-mail address or a WeChat id.
            "anyOf": [given("phone"), given("email"), given("wechat")],
        },
    )

    id: uuid.UUID | None = Field(default=None, description="Optional client-chosen id (offline sync).")
    name: Name
    source: LeadSource
    company: Company | None = None
    phone: PhoneText | None = Field(default=None, description="Any common format; stored as E.164.")
    email: EmailText | None = None
    wechat: ShortText | None = None
    region: ShortText | None = None
    product_line: ShortText | None = None
    industry: ShortText | None = None
    budget: Money | None = None
    notes: Notes | None = None
    owner_id: uuid.UUID | None = None
    tags: Tags = Field(default_factory=list)
    custom_fields: CustomFields = Field(default_factory=dict)
    campaign_id: uuid.UUID | None = Field(default=None, description=_CAMPAIGN_ID)
    utm_source: UtmText | None = None
    utm_medium: UtmText | None = None
    utm_campaign: UtmText | None = None
    utm_term: UtmText | None = None
    utm_content: UtmText | None = None


class LeadUpdate(PatchModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"budget": "300000.00", "region": "华南"}]})
    nullable_fields = frozenset(
        {
            "company",
            "phone",
            "email",
            "wechat",
            "region",
            "product_line",
            "industry",
            "budget",
            "notes",
            "campaign_id",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
        }
    )

    name: Name | SkipJsonSchema[None] = None
    company: Company | None = None
    phone: PhoneText | None = None
    email: EmailText | None = None
    wechat: ShortText | None = None
    region: ShortText | None = None
    product_line: ShortText | None = None
    industry: ShortText | None = None
    budget: Money | None = None
    notes: Notes | None = None
    tags: Tags | SkipJsonSchema[None] = None
    custom_fields: CustomFields | SkipJsonSchema[None] = None
    campaign_id: uuid.UUID | None = Field(default=None, description=_CAMPAIGN_ID + " null clears it.")
    utm_source: UtmText | None = None
    utm_medium: UtmText | None = None
    utm_campaign: UtmText | None = None
    utm_term: UtmText | None = None
    utm_content: UtmText | None = None


class PossibleDuplicate(BaseModel):
    lead_id: uuid.UUID
    company_key: str
    score: float


class ScoreSignal(BaseModel):
    """One signal of the intent score: its value, its weight (the points it earns in full), the
    points it earned and why."""

    signal: Signal
    value: bool | int | float
    weight: float = Field(description="Points this signal earns in full; the weights sum to 100.")
    points: int
    reason: str


class LeadOut(Record, Engaged):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_LEAD_EXAMPLE]})

    name: str
    company: str | None
    phone: str | None
    email: str | None
    wechat: str | None
    source: LeadSource
    region: str | None
    product_line: str | None
    industry: str | None
    budget: StoredMoney | None
    notes: str | None
    status: LeadStatus
    owner_id: uuid.UUID | None
    owner_name: str | None = name_of("owner")
    created_by_id: uuid.UUID | None = Field(
        description="The user who entered the lead (by hand, by an import, or, for a web-form lead, the "
        "user who set the form up); null for leads from API keys, and for leads entered before it was "
        "recorded (not backfilled)."
    )
    created_by_name: str | None = name_of("user who entered the lead")
    assigned_at: datetime | None
    first_response_at: datetime | None
    last_follow_up_at: datetime | None
    score: int = Field(
        ge=0,
        le=100,
        description="Intent score 0-100: how ready the lead is to buy, from weighted signals (contact "
        "frequency, temperature, meetings, budget and timeframe known, source quality; "
        "docs/scoring.md#lead-intent-score). Recomputed when an input changes (an activity, an "
        "engagement event, a budget edit), as of scored_at; score_breakdown's points sum to it. "
        "Sort a list by it with sort=-score.",
    )
    score_breakdown: list[ScoreSignal]
    scored_at: datetime | None = Field(description="When the score was last computed.")
    customer_id: uuid.UUID | None
    customer_name: str | None = name_of("customer")
    converted_at: datetime | None
    disqualified_reason: str | None
    qualified_at: datetime | None = Field(description="When POST /leads/{id}/qualify accepted the lead.")
    qualified_by_id: uuid.UUID | None
    qualified_by_name: str | None = name_of("user who qualified the lead")
    feedback_quality: int | None = Field(
        description="Sales' rating of the lead, 1 (useless) to 5 (excellent)."
    )
    feedback_reasons: list[FeedbackReason]
    feedback_comment: str | None
    feedback_by_id: uuid.UUID | None
    feedback_by_name: str | None = name_of("user who gave the feedback")
    feedback_at: datetime | None
    assignment_rule_id: uuid.UUID | None = Field(description="The rule that chose the owner, if one did.")
    assignment_rule_name: str | None = name_of("assignment rule")
    assignment_strategy: str | None
    assignment_reason: str | None = Field(description="Why this owner, in words a manager reads.")
    pooled_at: datetime | None
    previous_owner_id: uuid.UUID | None
    previous_owner_name: str | None = name_of("previous owner")
    release_reason: str | None
    possible_duplicates: list[PossibleDuplicate]
    tags: list[str]
    custom_fields: dict[str, Any]
    campaign_id: uuid.UUID | None = Field(description="The campaign that brought the lead in.")
    campaign_name: str | None = name_of("campaign")
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    merged_from: uuid.UUID | None = Field(
        default=None,
        description="Set when the id asked for is a lead merged into this one (an alias).",
    )


class LeadPage(ListPage):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_LEAD_EXAMPLE], "next_cursor": None}]}
    )

    items: list[LeadOut]


class LeadConvert(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"customer_name": "上海申华建材有限公司", "opportunity_name": "申华大厦屋面防水工程"}
            ]
        },
    )

    customer_id: uuid.UUID | None = Field(
        default=None, description="Link to this customer instead of creating one."
    )
    customer_name: Company | None = Field(
        default=None, description="Name of the new customer; default: company."
    )
    opportunity_name: Company | None = Field(
        default=None, description="Also open an opportunity with this name, in the same transaction."
    )
    opportunity_amount: Money | None = None
    pipeline_id: uuid.UUID | None = Field(default=None, description="Default: the default pipeline.")


class LeadDisqualify(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "无采购预算"}]})

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class LeadFeedbackIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"quality": 2, "reason_codes": ["no_budget", "not_decision_maker"], "comment": "只是询价"}
            ]
        },
    )

    quality: Annotated[int, Field(ge=1, le=5, description="1 (useless) to 5 (excellent)."), JsonInteger]
    reason_codes: Annotated[list[FeedbackReason], Field(max_length=10)] = []
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class LeadMergeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"duplicate_id": "5e6f7081-92a3-4b4c-86d7-e8f90a1b2c34"}]},
    )

    duplicate_id: uuid.UUID = Field(description="The lead merged into this one (it becomes an alias).")


class LeadMergeOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "6f708192-a3b4-4c5d-97e8-f90a1b2c3d45",
                    "lead": _LEAD_EXAMPLE,
                    "duplicate_id": "5e6f7081-92a3-4b4c-86d7-e8f90a1b2c34",
                    "merged_at": "2026-12-07T03:00:00Z",
                    "undo_until": "2026-12-14T03:00:00Z",
                    "undone_at": None,
                    "moved": {
                        "activities": 3,
                        "attachments": 1,
                        "engagement_events": 4,
                        "sla_timers": 1,
                        "tasks": 1,
                    },
                    "filled": ["budget", "custom_fields"],
                }
            ]
        }
    )

    id: uuid.UUID
    lead: LeadOut = Field(description="The survivor.")
    duplicate_id: uuid.UUID
    merged_at: datetime
    undo_until: datetime
    undone_at: datetime | None
    moved: dict[str, int] = Field(description="Records moved to the survivor, per kind.")
    filled: list[str] = Field(
        description="The survivor's fields the merge filled from the duplicate (it had none): plain "
        "fields, `custom_fields` (keys the survivor lacked) and the latest follow-up times."
    )
