"""Campaigns and their cost entries as the API reads and writes them."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import Day, DecimalText, ListPage, PatchModel, Record, StoredMoney, name_of
from app.api.schemas.pipelines import Currency
from app.domain.marketing.campaigns import CampaignChannel

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Budget = Annotated[Decimal, DecimalText(digits=14, places=2, example="50000.00")]
Amount = Annotated[Decimal, DecimalText(digits=14, places=2, example="12000.00", positive=True)]

_CAMPAIGN_EXAMPLE: dict[str, Any] = {
    "name": "2026上海建材展",
    "channel": "exhibition",
    "starts_on": "2026-11-10",
    "ends_on": "2026-11-12",
    "budget": "50000.00",
    "currency": "CNY",
    "notes": "N3馆 A12 展位",
}
_COST_EXAMPLE: dict[str, Any] = {"incurred_on": "2026-11-10", "amount": "12000.00", "note": "展位费"}


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CAMPAIGN_EXAMPLE]})

    name: Name = Field(description="Unique in the organization; an import names a campaign by it.")
    channel: CampaignChannel
    starts_on: Day | None = Field(default=None, description="First day (local), included.")
    ends_on: Day | None = Field(
        default=None, description="Last day (local), included; on or after starts_on."
    )
    budget: Budget | None = None
    currency: Currency | None = Field(
        default=None, description="Of the budget and every cost entry; default the organization's."
    )
    notes: Notes | None = None


class CampaignUpdate(PatchModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"ends_on": "2026-11-13", "is_archived": True}]}
    )
    nullable_fields = frozenset({"starts_on", "ends_on", "budget", "notes"})

    name: Name | SkipJsonSchema[None] = None
    channel: CampaignChannel | SkipJsonSchema[None] = None
    starts_on: Day | None = None
    ends_on: Day | None = None
    budget: Budget | None = None
    notes: Notes | None = None
    is_archived: StrictBool | SkipJsonSchema[None] = Field(
        default=None,
        description="Archived campaigns leave the running list (is_archived=false); their figures stay.",
    )


class CampaignOut(Record):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    **_CAMPAIGN_EXAMPLE,
                    "id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "version": 1,
                    "created_at": "2026-11-01T02:00:00Z",
                    "updated_at": "2026-11-01T02:00:00Z",
                    "is_archived": False,
                    "created_by_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "created_by_name": "市场小刘",
                }
            ]
        },
    )

    name: str
    channel: CampaignChannel
    starts_on: date | None
    ends_on: date | None
    budget: StoredMoney | None
    currency: str
    notes: str | None
    is_archived: bool
    created_by_id: uuid.UUID | None
    created_by_name: str | None = name_of("user who created the campaign")


class CampaignPage(ListPage):
    items: list[CampaignOut]


class CampaignCostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_COST_EXAMPLE]})

    incurred_on: Day = Field(description="The day the money was spent: the campaign-roi KPI's date.")
    amount: Amount
    currency: Currency | None = Field(
        default=None, description="The campaign's currency (another is refused); default it."
    )
    note: Note | None = None


class CampaignCostOut(Record):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    **_COST_EXAMPLE,
                    "id": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
                    "version": 1,
                    "created_at": "2026-11-10T09:00:00Z",
                    "updated_at": "2026-11-10T09:00:00Z",
                    "campaign_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "campaign_name": "2026上海建材展",
                    "currency": "CNY",
                    "created_by_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "created_by_name": "市场小刘",
                }
            ]
        },
    )

    campaign_id: uuid.UUID
    campaign_name: str | None = name_of("campaign")
    incurred_on: date
    amount: StoredMoney
    currency: str
    note: str | None
    created_by_id: uuid.UUID | None
    created_by_name: str | None = name_of("user who entered the cost")


class CampaignCostPage(ListPage):
    items: list[CampaignCostOut]
