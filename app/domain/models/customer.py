"""The customer master record: one per company, with a code unique in the organization."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Entity, SoftDeletable, str_enum, tags_index, trigram_index, utcnow
from app.domain.customers.contacts import BuyingRole
from app.domain.customers.customer_tier import Tier
from app.domain.scores.customer_health import HealthBand

# The partial unique indexes' predicate: a merged customer keeps its keys (its code stays an alias)
# without blocking the survivor's, and a new customer of that name is refused by the survivor's. A
# deleted customer blocks no one either; restoring it is refused while a live one holds its keys.
LIVE_CUSTOMER = text("merged_into_id IS NULL AND deleted_at IS NULL")
FOLLOWED_CUSTOMER = text("plan_due_at IS NOT NULL")


class Customer(SoftDeletable, Entity):
    __tablename__ = "customer"
    __table_args__ = (
        UniqueConstraint("organization_id", "code"),
        Index(None, "organization_id", "owner_id"),
        # The status board in plan order: only followed customers (with a plan) are on it.
        Index(
            None,
            "organization_id",
            "plan_due_at",
            "id",
            postgresql_include=["owner_id", "merged_into_id", "deleted_at"],
            postgresql_where=FOLLOWED_CUSTOMER,
            sqlite_where=FOLLOWED_CUSTOMER,
        ),
        Index(
            None,
            "organization_id",
            "owner_id",
            "plan_due_at",
            "id",
            postgresql_include=["merged_into_id", "deleted_at"],
            postgresql_where=FOLLOWED_CUSTOMER,
            sqlite_where=FOLLOWED_CUSTOMER,
        ),
        Index(None, "organization_id", "name_key"),
        # One live customer per company: the database settles two reps creating it at once.
        Index(
            "uq_customer_live_name_key",
            "organization_id",
            "name_key",
            unique=True,
            postgresql_where=LIVE_CUSTOMER,
            sqlite_where=LIVE_CUSTOMER,
        ),
        Index(
            "uq_customer_live_uscc",
            "organization_id",
            "uscc",
            unique=True,
            postgresql_where=LIVE_CUSTOMER,
            sqlite_where=LIVE_CUSTOMER,
        ),
        # One live customer per phone and per e-mail too, through their keys (migration 0032).
        Index(
            "uq_customer_live_phone_key",
            "organization_id",
            "phone_key",
            unique=True,
            postgresql_where=LIVE_CUSTOMER,
            sqlite_where=LIVE_CUSTOMER,
        ),
        Index(
            "uq_customer_live_email_key",
            "organization_id",
            "email_key",
            unique=True,
            postgresql_where=LIVE_CUSTOMER,
            sqlite_where=LIVE_CUSTOMER,
        ),
        Index(None, "organization_id", "phone"),
        Index(None, "organization_id", "email"),
        Index(None, "organization_id", "updated_at"),
        Index(None, "organization_id", "created_at"),
        # The list by name (sort=name).
        Index(None, "organization_id", "name"),
        tags_index("customer"),
        Index(None, "organization_id", "deleted_at"),
        trigram_index("customer", "name"),
        trigram_index("customer", "code"),
        # A phone number typed in part (the global search, migration 0040).
        trigram_index("customer", "phone"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    # Normalised company name (legal suffixes stripped): what de-duplication compares. Customers
    # that shared a key before it became unique carry "#<code>" after it (migration 0025).
    name_key: Mapped[str] = mapped_column(String(200))
    # Unified social credit code (GB 32100-2015), 18 characters, check digit verified.
    uscc: Mapped[str | None] = mapped_column(String(18))
    # The company's switchboard and general mailbox, normalised like a lead's (E.164, lower case).
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    # The phone and e-mail as the unique indexes hold them: equal to `phone` and `email`, except on
    # customers that shared one before it became unique, which carry "#<code>" after it (0032).
    phone_key: Mapped[str | None] = mapped_column(String(64))
    email_key: Mapped[str | None] = mapped_column(String(280))
    industry: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    annual_purchase: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    tier: Mapped[Tier] = mapped_column(str_enum(Tier), default=Tier.C)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # The earliest due_at of its open tasks and live SLA timers (the status board's order), kept
    # by database triggers (models/plan_due.py); NULL without any.
    plan_due_at: Mapped[datetime | None]
    tags: Mapped[list[str]] = mapped_column(default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_follow_up_at: Mapped[datetime | None]
    # Engagement temperature (app/domain/scores/engagement.py): the value at temperature_at; it cools
    # from there, so a reader decays it to now and an event updates this one row.
    temperature: Mapped[float | None]
    temperature_at: Mapped[datetime | None]
    # Customer health (app/domain/scores/customer_health.py) as last computed. A derived value: writing it
    # leaves `version` and `updated_at` alone, so a nightly recompute invalidates no client's ETag.
    # Not indexed: the nightly run reads every customer of the organization anyway, and an indexed
    # column would keep PostgreSQL from updating the row in place (HOT), so each night would write
    # into all of the customer's indexes, the two trigram ones included.
    health_score: Mapped[int | None]
    health_band: Mapped[HealthBand | None] = mapped_column(str_enum(HealthBand))
    health_computed_at: Mapped[datetime | None]

    # Similar live customers found at creation: [{"customer_id", "score"}], reported, not refused.
    possible_duplicates: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    # Set when this customer was merged into another: hidden from lists, its id and code resolve
    # to the survivor.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customer.id"))
    merged_at: Mapped[datetime | None]


class CustomerHealthSnapshot(Base):
    """The health a customer had on one day of the organization's calendar: the day's last
    recompute (one row per customer and local day), so the trend stays when the score moves on."""

    __tablename__ = "customer_health_snapshot"
    __table_args__ = (
        UniqueConstraint(
            "organization_id", "customer_id", "snapshot_on", name="uq_customer_health_snapshot_day"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    snapshot_on: Mapped[date]
    score: Mapped[int]
    band: Mapped[HealthBand] = mapped_column(str_enum(HealthBand))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerMerge(Entity):
    """One merge of a duplicate into a survivor, with the ids of every record it moved, so an undo
    moves back exactly those."""

    __tablename__ = "customer_merge"
    __table_args__ = (
        Index(None, "organization_id", "survivor_id"),
        Index(None, "organization_id", "duplicate_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    survivor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    duplicate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    merged_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    merged_at: Mapped[datetime]
    # {kind: [ids]} moved to the survivor, and the live SLA timers of the duplicate stopped because
    # the survivor runs the same policy: [{"id", "state", "next_fire_at"}].
    moved: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stopped_timers: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    # The survivor's last follow-up before the merge, given back by an undo.
    previous_last_follow_up_at: Mapped[datetime | None]
    undone_at: Mapped[datetime | None]
    undone_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class Contact(SoftDeletable, Entity):
    __tablename__ = "contact"
    __table_args__ = (
        Index(None, "organization_id", "customer_id"),
        # Engagement events and customer de-duplication find a contact by phone or e-mail (normalised).
        Index(None, "organization_id", "phone"),
        Index(None, "organization_id", "email"),
        # GET /contacts in its orders, and the global search over names (migration 0040).
        Index(None, "organization_id", "created_at"),
        Index(None, "organization_id", "updated_at"),
        Index(None, "organization_id", "name"),
        trigram_index("contact", "name"),
        trigram_index("contact", "phone"),
        trigram_index("contact", "email"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    wechat_id: Mapped[str | None] = mapped_column(String(64))
    # Kept for clients of v1: true exactly when buying_role is decision_maker.
    is_decision_maker: Mapped[bool] = mapped_column(default=False)
    # The contact's part in the buying decision (the account's decision chain), and why.
    buying_role: Mapped[BuyingRole | None] = mapped_column(str_enum(BuyingRole))
    role_note: Mapped[str | None] = mapped_column(String(500))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Personal data erased on request (PIPL): name is a tombstone, the contact fields are empty.
    erased_at: Mapped[datetime | None]
