"""Customers, contacts and the timeline as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import ListPage, PatchModel, Record, StoredMoney, given, name_of
from app.api.schemas.engagement import Engaged
from app.api.schemas.leads import (
    Company,
    CustomFields,
    EmailText,
    LeadOut,
    Money,
    Name,
    PhoneText,
    ShortText,
    Tags,
)
from app.api.schemas.pipelines import OpportunityOut
from app.domain.customers.contacts import BuyingRole
from app.domain.customers.customer_tier import Tier
from app.domain.scores.customer_health import HealthBand

RoleNote = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Latitude = Annotated[StrictFloat, Field(ge=-90, le=90)]
Longitude = Annotated[StrictFloat, Field(ge=-180, le=180)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Uscc = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32),
    Field(
        description="Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, check "
        "character verified; unique among the organization's customers.",
        examples=["91310115MA1K3YJ877"],
    ),
]

_CUSTOMER_EXAMPLE: dict[str, Any] = {
    "id": "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901",
    "version": 1,
    "created_at": "2026-11-23T02:00:00Z",
    "updated_at": "2026-11-23T02:00:00Z",
    "code": "C000123",
    "name": "上海申华建材有限公司",
    "uscc": "91310115MA1K3YJ877",
    "phone": "+862150801234",
    "email": "info@shenhua.example",
    "industry": "建筑施工",
    "region": "华东",
    "address": "上海市浦东新区张江路 88 号",
    "latitude": 31.2035,
    "longitude": 121.5914,
    "annual_purchase": "620000.00",
    "tier": "A",
    "owner_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "owner_name": "王芳",
    "tags": ["重点客户"],
    "custom_fields": {},
    "last_follow_up_at": None,
    "last_engaged_at": "2026-11-22T07:30:00Z",
    "temperature": 18.4,
    "health_score": 74,
    "health_band": "green",
    "health_computed_at": "2026-11-22T16:05:50Z",
    "possible_duplicates": [{"customer_id": "3c4d5e6f-7081-4293-a4b5-c6d7e8f90a12", "score": 92.3}],
    "merged_from": None,
}
_CONTACT_EXAMPLE: dict[str, Any] = {
    "id": "8e9f0a1b-2c3d-4e5f-8a7b-6c5d4e3f2a1b",
    "version": 1,
    "created_at": "2026-11-23T02:00:00Z",
    "updated_at": "2026-11-23T02:00:00Z",
    "customer_id": "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901",
    "name": "李娜",
    "title": "采购经理",
    "phone": "+8613912345678",
    "email": "li.na@shenhua.example",
    "wechat_id": "lina_buy",
    "is_decision_maker": True,
    "buying_role": "decision_maker",
    "role_note": "分管采购的副总，最终拍板",
    "custom_fields": {},
}


class CustomerCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "上海申华建材有限公司", "region": "华东", "annual_purchase": "620000.00"}]
        },
    )

    id: uuid.UUID | None = None
    name: Company
    uscc: Uscc | None = None
    phone: PhoneText | None = Field(
        default=None, description="The switchboard; any common format, stored as E.164."
    )
    email: EmailText | None = Field(default=None, description="The general mailbox.")
    industry: ShortText | None = None
    region: ShortText | None = None
    address: Address | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    annual_purchase: Money | None = Field(default=None, description="Decides the tier when given.")
    tier: Tier | None = Field(default=None, description="Used only when annual_purchase is not given.")
    owner_id: uuid.UUID | None = None
    tags: Tags = Field(default_factory=list)
    custom_fields: CustomFields = Field(default_factory=dict)


class CustomerUpdate(PatchModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"annual_purchase": "80000.00"}]})
    nullable_fields = frozenset(
        {
            "uscc",
            "phone",
            "email",
            "industry",
            "region",
            "address",
            "latitude",
            "longitude",
            "annual_purchase",
            "owner_id",
        }
    )

    name: Company | SkipJsonSchema[None] = None
    uscc: Uscc | None = None
    phone: PhoneText | None = None
    email: EmailText | None = None
    industry: ShortText | None = None
    region: ShortText | None = None
    address: Address | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    annual_purchase: Money | None = None
    tier: Tier | SkipJsonSchema[None] = None
    owner_id: uuid.UUID | None = None
    tags: Tags | SkipJsonSchema[None] = None
    custom_fields: CustomFields | SkipJsonSchema[None] = None


class PossibleDuplicateOut(BaseModel):
    customer_id: uuid.UUID
    score: float = Field(description="Similarity of the normalised names, 0-100.")


class CustomerOut(Record, Engaged):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_CUSTOMER_EXAMPLE]})

    code: str
    name: str
    uscc: str | None
    phone: str | None
    email: str | None
    industry: str | None
    region: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    annual_purchase: StoredMoney | None
    tier: Tier
    owner_id: uuid.UUID | None
    owner_name: str | None = name_of("owner")
    tags: list[str]
    custom_fields: dict[str, Any]
    last_follow_up_at: datetime | None
    health_score: int | None = Field(
        description="Customer health 0-100 as last recomputed (nightly, and when an activity, a won "
        "deal or an SLA breach changes it); null until first computed. GET /customers/{id}/health "
        "explains it."
    )
    health_band: HealthBand | None
    health_computed_at: datetime | None
    possible_duplicates: list[PossibleDuplicateOut] = Field(
        description="Live customers with a similar name when this one was created: reported, not refused."
    )
    merged_from: uuid.UUID | None = Field(
        default=None,
        description="Set when the id asked for is a customer merged into this one (an alias).",
    )


class CustomerPage(ListPage):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_CUSTOMER_EXAMPLE], "next_cursor": None}]}
    )

    items: list[CustomerOut]


class ContactCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "李娜", "title": "采购经理", "phone": "139 1234 5678"}]},
    )

    id: uuid.UUID | None = None
    name: Name
    title: ShortText | None = None
    phone: PhoneText | None = None
    email: EmailText | None = None
    wechat_id: ShortText | None = None
    is_decision_maker: StrictBool = Field(
        default=False, description="v1: true makes the contact a decision maker when no buying_role is given."
    )
    buying_role: BuyingRole | None = Field(
        default=None, description="The contact's part in the buying decision; decides is_decision_maker."
    )
    role_note: RoleNote | None = None
    custom_fields: CustomFields = Field(
        default_factory=dict,
        description="Values of the organization's contact custom fields (settings.custom_fields.contact).",
    )


class ContactUpdate(PatchModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"buying_role": "influencer", "role_note": "技术评估，影响选型"}]}
    )
    nullable_fields = frozenset({"title", "phone", "email", "wechat_id", "buying_role", "role_note"})

    name: Name | SkipJsonSchema[None] = None
    title: ShortText | None = None
    phone: PhoneText | None = Field(default=None, description="Any common format, stored as E.164.")
    email: EmailText | None = None
    wechat_id: ShortText | None = None
    is_decision_maker: StrictBool | SkipJsonSchema[None] = Field(
        default=None,
        description="v1: true sets buying_role to decision_maker; false takes that role away. "
        "Ignored when buying_role is sent too.",
    )
    buying_role: BuyingRole | None = Field(default=None, description="null: no role recorded.")
    role_note: RoleNote | None = None
    custom_fields: CustomFields | SkipJsonSchema[None] = Field(
        default=None, description="Replaces every custom field value; the required ones must be given."
    )


class ContactOut(Record):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_CONTACT_EXAMPLE]})

    customer_id: uuid.UUID
    customer_name: str | None = name_of("customer")
    name: str
    title: str | None
    phone: str | None
    email: str | None
    wechat_id: str | None
    is_decision_maker: bool = Field(description="v1: true exactly when buying_role is decision_maker.")
    buying_role: BuyingRole | None
    role_note: str | None
    custom_fields: dict[str, Any]


class ContactPage(ListPage):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_CONTACT_EXAMPLE], "next_cursor": None}]}
    )

    items: list[ContactOut]


class TimelineItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str = Field(examples=["activity.visit", "customer.owner_changed", "lead.merged"])
    occurred_at: datetime
    summary: str
    actor_id: uuid.UUID | None
    actor_name: str | None = name_of("actor")
    data: dict[str, Any]


class TimelinePage(ListPage):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "5d6e7f80-91a2-4b3c-8d4e-5f6a7b8c9d0e",
                            "kind": "activity.visit",
                            "occurred_at": "2026-11-23T03:00:00Z",
                            "summary": "现场勘察屋面",
                            "actor_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                            "data": {"lead_id": None, "is_effective": True},
                        }
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )

    items: list[TimelineItemOut]


class LeadConversionOut(BaseModel):
    """The answer to POST /leads/{id}/convert: everything created or linked in one transaction."""

    lead: LeadOut
    customer: CustomerOut
    contact: ContactOut
    customer_created: bool
    opportunity: OpportunityOut | None = Field(description="When opportunity_name was given.")


class DuplicateCheck(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "申华建材", "phone": "021-5080 1234"}],
            # Something to compare: at least one of the keys.
            "anyOf": [given("name"), given("uscc"), given("phone"), given("email")],
        },
    )

    name: Company | None = None
    uscc: Uscc | None = None
    phone: PhoneText | None = None
    email: EmailText | None = None

    @model_validator(mode="after")
    def _something_to_compare(self) -> DuplicateCheck:
        if not (self.name or self.uscc or self.phone or self.email):
            raise ValueError("give at least one of name, uscc, phone, email")
        return self


class CustomerMatchOut(BaseModel):
    """An existing customer as the caller may see it: a customer of a colleague outside the caller's
    view shows only its owner's name."""

    model_config = ConfigDict(from_attributes=True)

    matched_field: str = Field(examples=["name", "uscc", "phone", "email"])
    is_visible: bool
    owner_name: str | None
    customer_id: uuid.UUID | None
    code: str | None
    name: str | None
    owner_id: uuid.UUID | None
    score: float | None = Field(description="For a similar name: 0-100; None for an exact match.")


_VISIBLE_MATCH: dict[str, Any] = {
    "matched_field": "name",
    "is_visible": True,
    "owner_name": "王芳",
    "customer_id": "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901",
    "code": "C000123",
    "name": "上海申华建材有限公司",
    "owner_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "score": None,
}


class DuplicateCheckOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "exact_matches": [_VISIBLE_MATCH],
                    "possible_duplicates": [
                        {
                            "matched_field": "name",
                            "is_visible": False,
                            "owner_name": "李雷",
                            "customer_id": None,
                            "code": None,
                            "name": None,
                            "owner_id": None,
                            "score": 91.7,
                        }
                    ],
                }
            ]
        }
    )

    exact_matches: list[CustomerMatchOut] = Field(description="Creating the customer would answer 409.")
    possible_duplicates: list[CustomerMatchOut] = Field(description="Similar names: allowed, reported.")


class CustomerMergeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"duplicate_id": "3c4d5e6f-7081-4293-a4b5-c6d7e8f90a12"}]},
    )

    duplicate_id: uuid.UUID = Field(description="The customer merged into this one (it becomes an alias).")


class CustomerMergeOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "4d5e6f70-8192-4a3b-b5c6-d7e8f90a1b23",
                    "customer": _CUSTOMER_EXAMPLE,
                    "duplicate_id": "3c4d5e6f-7081-4293-a4b5-c6d7e8f90a12",
                    "merged_at": "2026-12-07T03:00:00Z",
                    "undo_until": "2026-12-14T03:00:00Z",
                    "undone_at": None,
                    "moved": {"contacts": 2, "leads": 1, "activities": 14, "sla_timers": 1},
                }
            ]
        }
    )

    id: uuid.UUID
    customer: CustomerOut = Field(description="The survivor.")
    duplicate_id: uuid.UUID
    merged_at: datetime
    undo_until: datetime
    undone_at: datetime | None
    moved: dict[str, int] = Field(description="Records moved to the survivor, per kind.")
