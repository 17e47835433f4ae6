"""Customers, contacts and the timeline as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import PatchModel, Record
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
from app.domain.customer_health import HealthBand
from app.domain.customer_tier import Tier

Latitude = Annotated[StrictFloat, Field(ge=-90, le=90)]
Longitude = Annotated[StrictFloat, Field(ge=-180, le=180)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]

_CUSTOMER_EXAMPLE: dict[str, Any] = {
    "id": "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901",
    "version": 1,
    "created_at": "2026-11-23T02:00:00Z",
    "updated_at": "2026-11-23T02:00:00Z",
    "code": "C000123",
    "name": "上海申华建材有限公司",
    "industry": "建筑施工",
    "region": "华东",
    "address": "上海市浦东新区张江路 88 号",
    "latitude": 31.2035,
    "longitude": 121.5914,
    "annual_purchase": "620000.00",
    "tier": "A",
    "owner_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "tags": ["重点客户"],
    "custom_fields": {},
    "last_follow_up_at": None,
    "last_engaged_at": "2026-11-22T07:30:00Z",
    "temperature": 18.4,
    "health_score": 74,
    "health_band": "green",
    "health_computed_at": "2026-11-22T16:05:50Z",
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
        {"industry", "region", "address", "latitude", "longitude", "annual_purchase", "owner_id"}
    )

    name: Company | SkipJsonSchema[None] = None
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


class CustomerOut(Record, Engaged):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_CUSTOMER_EXAMPLE]})

    code: str
    name: str
    industry: str | None
    region: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    annual_purchase: Decimal | None
    tier: Tier
    owner_id: uuid.UUID | None
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


class CustomerPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_CUSTOMER_EXAMPLE], "next_cursor": None}]}
    )

    items: list[CustomerOut]
    next_cursor: str | None


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
    is_decision_maker: StrictBool = False


class ContactOut(Record):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_CONTACT_EXAMPLE]})

    customer_id: uuid.UUID
    name: str
    title: str | None
    phone: str | None
    email: str | None
    wechat_id: str | None
    is_decision_maker: bool


class ContactPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_CONTACT_EXAMPLE], "next_cursor": None}]}
    )

    items: list[ContactOut]
    next_cursor: str | None


class TimelineItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str = Field(examples=["activity.visit", "customer.owner_changed", "lead.merged"])
    occurred_at: datetime
    summary: str
    actor_id: uuid.UUID | None
    data: dict[str, Any]


class TimelinePage(BaseModel):
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
    next_cursor: str | None


class LeadConversionOut(BaseModel):
    """The answer to POST /leads/{id}/convert: everything created or linked in one transaction."""

    lead: LeadOut
    customer: CustomerOut
    contact: ContactOut
    customer_created: bool
    opportunity: OpportunityOut | None = Field(description="When opportunity_name was given.")
