"""Products, and quotes with their lines: the prices reps offer, which a price audit watches."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Entity, str_enum
from app.domain.quotes.quotes import QuoteStatus


class Product(Entity):
    __tablename__ = "product"
    __table_args__ = (UniqueConstraint("organization_id", "sku"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    product_line: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(16))
    list_price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    # Below this unit price a quote needs a director's approval (app/domain/quotes/quote_approval.py).
    floor_price: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    is_active: Mapped[bool] = mapped_column(default=True)


class Quote(Entity):
    __tablename__ = "quote"
    __table_args__ = (
        Index(None, "organization_id", "opportunity_id"),
        Index(None, "organization_id", "customer_id", "created_at"),
        Index(None, "organization_id", "closed_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    opportunity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("opportunity.id", ondelete="CASCADE"))
    # The opportunity's customer, kept here so price comparisons across quotes need no join.
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    status: Mapped[QuoteStatus] = mapped_column(str_enum(QuoteStatus), default=QuoteStatus.draft)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    list_total: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    total: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    discount_total: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    price_alerts: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    sent_at: Mapped[datetime | None]
    # When the customer accepted or rejected it (closed_from/closed_to).
    closed_at: Mapped[datetime | None]
    # The role whose approval the current prices need (None: none needed), and its decision.
    approval_level: Mapped[str | None] = mapped_column(String(16))
    approval_decision: Mapped[str | None] = mapped_column(String(16))
    approval_decided_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    approval_decided_at: Mapped[datetime | None]
    approval_reason: Mapped[str | None] = mapped_column(String(500))


class QuoteLine(Base):
    __tablename__ = "quote_line"
    __table_args__ = (Index(None, "organization_id", "product_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    quote_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quote.id", ondelete="CASCADE"))
    position: Mapped[int]
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("product.id"))
    list_price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 3))
    discount: Mapped[Decimal] = mapped_column(Numeric(9, 4))
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
