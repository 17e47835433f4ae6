"""Products and quotes as the API reads and writes them; money is decimal text, never a float."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.audit_events import AuditEventOut
from app.api.schemas.common import (
    DecimalText,
    ListPage,
    PatchModel,
    Record,
    StoredMoney,
    name_of,
    stored_decimal,
)
from app.api.schemas.pipelines import Currency
from app.domain.identity.permissions import Role
from app.domain.quotes.quotes import QuoteStatus

ApprovalDecision = Literal["approved", "rejected"]

Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
ProductName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
Price = Annotated[Decimal, DecimalText(digits=12, places=4, example="42.5000")]
Quantity = Annotated[Decimal, DecimalText(digits=9, places=3, positive=True, example="120")]
# In answers, as their columns store them (`Numeric(18, 4)`, `Numeric(18, 3)`).
StoredPrice = Annotated[Decimal, stored_decimal(4)]
StoredQuantity = Annotated[Decimal, stored_decimal(3)]

_PRODUCT_EXAMPLE: dict[str, Any] = {
    "sku": "FS-SBS-4MM",
    "name": "SBS改性沥青防水卷材 4mm",
    "product_line": "防水材料",
    "unit": "㎡",
    "list_price": "42.5000",
    "floor_price": "36.0000",
    "currency": "CNY",
    "is_active": True,
}


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_PRODUCT_EXAMPLE]})

    sku: Sku
    name: ProductName
    list_price: Price
    floor_price: Price | None = Field(
        default=None, description="Below this unit price a quote needs a director's approval."
    )
    product_line: Short | None = None
    unit: Unit | None = None
    currency: Currency = "CNY"
    is_active: StrictBool = True


class ProductUpdate(PatchModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"list_price": "44.0000", "is_active": True}]}
    )
    nullable_fields = frozenset({"product_line", "unit", "floor_price"})

    sku: Sku | SkipJsonSchema[None] = None
    name: ProductName | SkipJsonSchema[None] = None
    list_price: Price | SkipJsonSchema[None] = None
    floor_price: Price | None = None
    product_line: Short | None = None
    unit: Unit | None = None
    currency: Currency | SkipJsonSchema[None] = None
    is_active: StrictBool | SkipJsonSchema[None] = None


class ProductOut(Record):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    **_PRODUCT_EXAMPLE,
                    "id": "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f",
                    "version": 1,
                    "created_at": "2026-11-23T02:00:00Z",
                    "updated_at": "2026-11-23T02:00:00Z",
                }
            ]
        },
    )

    sku: str
    name: str
    product_line: str | None
    unit: str | None
    list_price: StoredPrice
    floor_price: StoredPrice | None
    currency: str
    is_active: bool


class ProductPage(ListPage):
    items: list[ProductOut]


class QuoteLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: uuid.UUID
    unit_price: Price
    quantity: Quantity


_LINES_EXAMPLE: list[Any] = [
    {"product_id": "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f", "unit_price": "38.0000", "quantity": "3000"}
]


class QuoteCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"opportunity_id": "4f5a6b7c-8d9e-4f0a-9b1c-2d3e4f5a6b7c", "lines": _LINES_EXAMPLE}]
        },
    )

    opportunity_id: uuid.UUID
    lines: Annotated[list[QuoteLineIn], Field(min_length=1, max_length=200)]


class QuoteLinesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"lines": _LINES_EXAMPLE}]})

    lines: Annotated[list[QuoteLineIn], Field(min_length=1, max_length=200)]


class QuoteStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"status": "sent"}]})

    status: QuoteStatus = Field(description="draft -> sent -> accepted | rejected; sent -> draft to revise.")


class QuoteLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: uuid.UUID
    product_name: str | None = name_of("product")
    list_price: StoredPrice
    unit_price: StoredPrice
    quantity: StoredQuantity
    discount: Annotated[Decimal, stored_decimal(4)] = Field(
        description="Share off the list price, e.g. 0.1059 = 10.59 % off."
    )
    amount: StoredMoney


class QuoteOut(Record):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "8d9e0f1a-2b3c-4d4e-9f5a-6b7c8d9e0f1a",
                    "version": 1,
                    "created_at": "2026-11-25T06:40:00Z",
                    "updated_at": "2026-11-25T06:40:00Z",
                    "opportunity_id": "4f5a6b7c-8d9e-4f0a-9b1c-2d3e4f5a6b7c",
                    "customer_id": "3e4f5a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b",
                    "customer_name": "申华建材",
                    "owner_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "owner_name": "王芳",
                    "status": "draft",
                    "currency": "CNY",
                    "list_total": "127500.00",
                    "total": "114000.00",
                    "discount_total": "13500.00",
                    "lines": [
                        {
                            "product_id": "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f",
                            "list_price": "42.5000",
                            "unit_price": "38.0000",
                            "quantity": "3000.000",
                            "discount": "0.1059",
                            "amount": "114000.00",
                        }
                    ],
                    "price_alerts": [],
                    "sent_at": None,
                    "closed_at": None,
                    "approval_level": None,
                    "approval_decision": None,
                    "approval_decided_by_id": None,
                    "approval_decided_at": None,
                    "approval_reason": None,
                }
            ]
        }
    )

    opportunity_id: uuid.UUID
    opportunity_name: str | None = name_of("opportunity")
    customer_id: uuid.UUID
    customer_name: str | None = name_of("customer")
    owner_id: uuid.UUID | None
    owner_name: str | None = name_of("owner")
    status: QuoteStatus
    currency: str
    list_total: StoredMoney
    total: StoredMoney
    discount_total: StoredMoney
    lines: list[QuoteLineOut]
    price_alerts: list[dict[str, str]] = Field(
        description="Lines priced farther than the organization's limit from another rep's recent quote to "
        "the same customer for the same product."
    )
    sent_at: datetime | None
    closed_at: datetime | None = Field(
        description="When the customer accepted or rejected it (closed_from/closed_to); null while open."
    )
    approval_level: Role | None = Field(
        description="The role whose approval these prices need (they go beyond the author's discount "
        "limit or a product's floor price); null: none needed."
    )
    approval_decision: ApprovalDecision | None
    approval_decided_by_id: uuid.UUID | None
    approval_decided_by_name: str | None = name_of("approver")
    approval_decided_at: datetime | None
    approval_reason: str | None


class QuotePage(ListPage):
    items: list[QuoteOut]


class QuoteApprovalIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"decision": "approved", "reason": "年度框架客户，同意特价"}]},
    )

    decision: ApprovalDecision
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class QuotePriceHistory(BaseModel):
    items: list[AuditEventOut] = Field(
        description="Oldest first; `after.lines` holds the unit prices, `actor_id` who set or decided them."
    )
