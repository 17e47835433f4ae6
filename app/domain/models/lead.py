"""Leads: a prospect's first contact details, de-duplicated by normalised phone and e-mail."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity, SoftDeletable, str_enum, tags_index, trigram_index
from app.domain.leads.leads import LeadSource, LeadStatus

# Not soft-deleted: every ORM read of leads has this condition (app.db._hide_deleted_records).
LIVE_LEAD = text("deleted_at IS NULL")
KPI_LEAD_COLUMNS = [
    "id",
    "owner_id",
    "status",
    "first_response_at",
    "last_effective_follow_up_at",
    "merged_into_id",
]


class Lead(SoftDeletable, Entity):
    __tablename__ = "lead"
    __table_args__ = (
        # The database decides duplicate races: one lead per phone and per e-mail in a tenant.
        UniqueConstraint("organization_id", "phone_key"),
        UniqueConstraint("organization_id", "email_key"),
        # Also a rep's leads in one status, newest first.
        Index(None, "organization_id", "owner_id", "status", "created_at"),
        Index(None, "organization_id", "company_key"),
        Index(None, "organization_id", "created_at"),
        # The list by name (sort=name).
        Index(None, "organization_id", "name"),
        tags_index("lead"),
        Index(None, "organization_id", "updated_at"),
        Index(None, "organization_id", "status", "pooled_at"),
        # Leads in one status, newest first: the newest leads are mostly not yet worked, so a walk
        # of the list order filtered to "contacted" passes every recent lead first.
        Index(None, "organization_id", "status", "created_at"),
        # The status board in plan order: the organization's, and one owner's (the includes
        # let the summary count colours from the index alone).
        Index(
            None,
            "organization_id",
            "plan_due_at",
            "id",
            postgresql_include=["status", "owner_id", "deleted_at"],
        ),
        Index(
            None,
            "organization_id",
            "owner_id",
            "plan_due_at",
            "id",
            postgresql_include=["status", "deleted_at"],
        ),
        # The list by intent score (sort=-score): whom to follow up first.
        Index(None, "organization_id", "score", "id"),
        # A customer's merged leads (its timeline).
        Index(None, "organization_id", "customer_id"),
        trigram_index("lead", "name"),
        trigram_index("lead", "company"),
        trigram_index("lead", "phone"),
        # The list of deleted leads an admin may restore.
        Index(None, "organization_id", "deleted_at"),
        # The campaign-roi and source-quality KPIs: a campaign's leads received in a period.
        Index(None, "organization_id", "campaign_id", "created_at"),
        # The assignment sweeper looks across tenants for leads still waiting.
        Index(None, "status", "created_at"),
        # Marketing's leads, newest first: it reads the leads it entered whoever works them.
        Index(None, "organization_id", "created_by_id", "created_at"),
        # The lead KPIs (lead-response, handover, lead-utilization, the daily brief's new leads
        # and trend) read a period's leads by an index-only scan, not one heap page per lead.
        Index(
            "ix_lead_received_for_kpis",
            "organization_id",
            "created_at",
            postgresql_include=KPI_LEAD_COLUMNS,
            postgresql_where=LIVE_LEAD,
        ).ddl_if(dialect="postgresql"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    company: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    wechat: Mapped[str | None] = mapped_column(String(64))
    phone_key: Mapped[str | None] = mapped_column(String(20))
    email_key: Mapped[str | None] = mapped_column(String(254))
    # Byte order ("C") on PostgreSQL, as SQLite compares: a machine key, whose index then serves
    # the fuzzy duplicate look-up's prefix block and nearest-name ranges.
    company_key: Mapped[str | None] = mapped_column(
        String(200).with_variant(String(200, collation="C"), "postgresql")
    )
    source: Mapped[LeadSource] = mapped_column(str_enum(LeadSource))
    region: Mapped[str | None] = mapped_column(String(64))
    product_line: Mapped[str | None] = mapped_column(String(64))
    industry: Mapped[str | None] = mapped_column(String(64))
    budget: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[LeadStatus] = mapped_column(str_enum(LeadStatus), default=LeadStatus.new)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # The earliest due_at of its open tasks and live SLA timers (the status board's order), kept
    # by database triggers (models/plan_due.py); NULL without any.
    plan_due_at: Mapped[datetime | None]
    # The user who entered the lead (by hand, by an import, or by setting up the web form it came
    # through); none for API keys.
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    last_follow_up_at: Mapped[datetime | None]
    last_effective_follow_up_at: Mapped[datetime | None]
    # Which rule and strategy chose the owner, and why, in words a manager reads.
    assignment_rule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("assignment_rule.id", ondelete="SET NULL")
    )
    assignment_strategy: Mapped[str | None] = mapped_column(String(16))
    assignment_reason: Mapped[str | None] = mapped_column(String(500))
    pooled_at: Mapped[datetime | None]
    previous_owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    release_reason: Mapped[str | None] = mapped_column(String(500))
    # Intent score 0-100 (app/domain/scores/lead_intent.py) and its breakdown, as of scored_at: recomputed
    # in the transaction that changes one of its inputs.
    score: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    score_breakdown: Mapped[list[dict[str, Any]]] = mapped_column(default=list, server_default=text("'[]'"))
    scored_at: Mapped[datetime | None]
    # Engagement temperature (app/domain/scores/engagement.py): the value at temperature_at; it cools
    # from there, so a reader decays it to now and an event updates this one row.
    temperature: Mapped[float | None]
    temperature_at: Mapped[datetime | None]
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customer.id", ondelete="SET NULL"))
    converted_at: Mapped[datetime | None]
    disqualified_at: Mapped[datetime | None]
    disqualified_reason: Mapped[str | None] = mapped_column(String(500))
    qualified_at: Mapped[datetime | None]
    qualified_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # Sales' rating of the lead marketing sent (the source-quality KPI reads it): 1-5 and reasons.
    feedback_quality: Mapped[int | None]
    feedback_reasons: Mapped[list[str]] = mapped_column(default=list, server_default=text("'[]'"))
    feedback_comment: Mapped[str | None] = mapped_column(String(500))
    feedback_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    feedback_at: Mapped[datetime | None]
    possible_duplicates: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    tags: Mapped[list[str]] = mapped_column(default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The campaign that brought the lead in (issue 21, point 2) and the UTM tags of its web visit.
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("campaign.id", ondelete="SET NULL"))
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    utm_term: Mapped[str | None] = mapped_column(String(200))
    utm_content: Mapped[str | None] = mapped_column(String(200))
    # Set when this lead was merged into another (status `merged`): its id resolves to the survivor.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead.id"))
    merged_at: Mapped[datetime | None]

    # Personal data erased on request (PIPL): name is a tombstone, the contact fields are empty.
    erased_at: Mapped[datetime | None]


class LeadMerge(Entity):
    """One merge of a duplicate lead into a survivor, with the ids of every record it moved and the
    survivor's fields it filled, so an undo gives back exactly those."""

    __tablename__ = "lead_merge"
    __table_args__ = (
        Index(None, "organization_id", "survivor_id"),
        Index(None, "organization_id", "duplicate_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    survivor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"))
    duplicate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"))
    merged_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    merged_at: Mapped[datetime]
    # {kind: [ids]} moved to the survivor, and the duplicate's live SLA timers the merge closed:
    # [{"id", "state", "next_fire_at"}].
    moved: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stopped_timers: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    # The duplicate's status before the merge, and the survivor's fields the merge filled:
    # {field: {"before": ..., "after": ...}} (custom fields as "custom_fields.<key>").
    duplicate_status: Mapped[LeadStatus] = mapped_column(str_enum(LeadStatus))
    filled: Mapped[dict[str, Any]] = mapped_column(default=dict)
    undone_at: Mapped[datetime | None]
    undone_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
