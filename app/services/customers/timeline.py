"""A customer's timeline: activities, ownership changes and merged leads, newest first.

Each source is read with the same keyset condition and limit, then merged; so the union pages
exactly like one table would, and stays index-driven as history grows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, true, tuple_, union
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import Activity, AuditEvent, Lead
from app.services.customers import customers
from app.services.platform.pagination import Page, SortOrder, decode_cursor, encode_cursor

_ORDER = SortOrder(name="occurred_at", descending=True)


@dataclass(frozen=True)
class TimelineItem:
    id: uuid.UUID
    kind: str
    occurred_at: datetime
    summary: str
    actor_id: uuid.UUID | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Window:
    """One page's keyset window, applied alike to every source of the timeline."""

    organization_id: uuid.UUID
    after: tuple[Any, ...] | None
    limit: int

    def before_cursor(self, time_column: Any, id_column: Any) -> Any:
        return tuple_(time_column, id_column) < tuple_(*self.after) if self.after else true()

    def newest_activity_ids(self, on_record: Any) -> Any:
        return (
            select(Activity.id)
            .where(
                Activity.organization_id == self.organization_id,
                on_record,
                self.before_cursor(Activity.occurred_at, Activity.id),
            )
            .order_by(Activity.occurred_at.desc(), Activity.id.desc())
            .limit(self.limit + 1)
            .subquery()
        )


async def customer_timeline(
    session: AsyncSession, *, actor: Principal, customer_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[TimelineItem]:
    customer = await customers.get_customer(session, actor=actor, customer_id=customer_id)
    window = _Window(actor.organization_id, decode_cursor(cursor, _ORDER) if cursor else None, limit)
    items = [
        *await _activity_items(session, window, customer.id),
        *await _audit_items(session, window, customer.id),
        *await _merged_lead_items(session, window, customer.id),
    ]
    return _page_of(items, limit)


async def _activity_items(
    session: AsyncSession, window: _Window, customer_id: uuid.UUID
) -> list[TimelineItem]:
    # The customer's own activities and its merged leads' are read apart, each from its index, and
    # united: one OR over both columns defeated both indexes (0.6 s, or 6.7 s with a plain
    # organization-and-time index, on a customer of a million-lead tenant).
    on_customer = window.newest_activity_ids(Activity.customer_id == customer_id)
    on_merged_leads = _merged_leads_activity_ids(session, window, customer_id)
    activities = await session.scalars(
        select(Activity)
        .where(Activity.id.in_(union(select(on_customer.c.id), select(on_merged_leads.c.id))))
        .order_by(Activity.occurred_at.desc(), Activity.id.desc())
        .limit(window.limit + 1)
    )
    return [
        TimelineItem(
            id=a.id,
            kind=f"activity.{a.type.value}",
            occurred_at=a.occurred_at,
            summary=(a.notes or a.type.value)[:200],
            actor_id=a.owner_id,
            data={"lead_id": str(a.lead_id) if a.lead_id else None, "is_effective": a.is_effective},
        )
        for a in activities
    ]


def _merged_leads_activity_ids(session: AsyncSession, window: _Window, customer_id: uuid.UUID) -> Any:
    merged_leads = select(Lead.id.label("lead_id")).where(
        Lead.organization_id == window.organization_id, Lead.customer_id == customer_id
    )
    if session.get_bind().dialect.name != "postgresql":
        return window.newest_activity_ids(Activity.lead_id.in_(merged_leads))
    # Each merged lead's newest activities, by its own index: as `lead_id IN (merged leads)`
    # the planner walked the organization's activities newest first looking for them, 11 s
    # for a customer with 1,500 merged leads whose activities predate its recent ones.
    merged_ids = merged_leads.subquery("merged")
    newest = (
        select(Activity.id, Activity.occurred_at)
        .where(
            Activity.organization_id == window.organization_id,
            Activity.lead_id == merged_ids.c.lead_id,
            window.before_cursor(Activity.occurred_at, Activity.id),
        )
        .order_by(Activity.occurred_at.desc(), Activity.id.desc())
        .limit(window.limit + 1)
        .lateral("newest")
    )
    return (
        select(newest.c.id)
        .select_from(merged_ids.join(newest, true()))
        .order_by(newest.c.occurred_at.desc(), newest.c.id.desc())
        .limit(window.limit + 1)
        .subquery()
    )


async def _audit_items(session: AsyncSession, window: _Window, customer_id: uuid.UUID) -> list[TimelineItem]:
    events = await session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.organization_id == window.organization_id,
            AuditEvent.entity_type == "customer",
            AuditEvent.entity_id == customer_id,
            window.before_cursor(AuditEvent.occurred_at, AuditEvent.id),
        )
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(window.limit + 1)
    )
    return [
        TimelineItem(
            id=e.id,
            kind=e.action,
            occurred_at=e.occurred_at,
            summary=e.action.replace("customer.", "").replace("_", " "),
            actor_id=e.actor_id,
            data={"before": e.before, "after": e.after},
        )
        for e in events
    ]


async def _merged_lead_items(
    session: AsyncSession, window: _Window, customer_id: uuid.UUID
) -> list[TimelineItem]:
    merged = await session.scalars(
        select(Lead)
        .where(
            Lead.organization_id == window.organization_id,
            Lead.customer_id == customer_id,
            Lead.converted_at.is_not(None),
            window.before_cursor(Lead.converted_at, Lead.id),
        )
        .order_by(Lead.converted_at.desc(), Lead.id.desc())
        .limit(window.limit + 1)
    )
    return [
        TimelineItem(
            id=lead.id,
            kind="lead.merged",
            occurred_at=lead.converted_at,
            summary=f"Lead {lead.name} converted into this customer",
            actor_id=lead.owner_id,
            data={"lead_id": str(lead.id), "source": lead.source.value},
        )
        for lead in merged
        if lead.converted_at is not None
    ]


def _page_of(items: list[TimelineItem], limit: int) -> Page[TimelineItem]:
    """Merges the sources newest first; one row past the page says there is a next one."""
    items.sort(key=lambda item: (item.occurred_at, item.id.hex), reverse=True)
    page = items[:limit]
    if len(items) <= limit:
        return Page(page, None)
    last = page[-1]
    return Page(page, encode_cursor(_ORDER, last.occurred_at, last.id))
