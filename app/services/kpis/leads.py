"""Lead and follow-up KPIs: lead-response, lead-utilization and handover (leads received in the
period), follow-up and stale (leads and customers now). Definitions: docs/kpis.md."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, func, literal_column, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.leads.leads import OPEN_STATUSES, LeadStatus
from app.domain.models import Customer, Lead, SlaTimer, User
from app.domain.reports.kpis import Dimension, KpiQuery, ratio
from app.domain.sla.sla import SlaKind, SubjectType, TimerState
from app.portable_sql import seconds_between
from app.services.kpis.scope import (
    Facts,
    Grouping,
    Listing,
    campaign_join,
    dimension_values,
    group_columns,
    in_period,
    median_and_p90,
    scoped,
    spread_columns,
    team_join,
)
from app.services.platform.pagination import SortOrder, decode_cursor, encode_cursor, invalid_cursor

LEAD_FACTS = Facts(
    organization_id=Lead.organization_id,
    owner_id=Lead.owner_id,
    region=Lead.region,
    industry=Lead.industry,
    source=Lead.source,
    campaign_id=Lead.campaign_id,
    joins={Dimension.team: team_join(Lead.owner_id), Dimension.channel: campaign_join(Lead.campaign_id)},
    # A lead merged into another counts once, as its survivor (deleted ones no query sees at all).
    counts=Lead.merged_into_id.is_(None),
)
CUSTOMER_FACTS = Facts(
    organization_id=Customer.organization_id,
    owner_id=Customer.owner_id,
    region=Customer.region,
    industry=Customer.industry,
    source=None,
)
# Leads someone is working: not in the pool (nobody's), not converted or disqualified.
WORKED_STATUSES = OPEN_STATUSES - {LeadStatus.pooled}
_DAY = 24 * 3600.0


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _key(row: Any, grouping: Grouping) -> tuple[Any, ...]:
    return tuple(getattr(row, label) for label in grouping.labels())


def _minutes(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _timer_outcomes(actor: Principal, kind: SlaKind) -> Any:
    """Per lead, whether a `kind` timer was met in time and whether one was decided (met, in time
    or late, or breached); a running timer not yet due is not. One aggregate joined to the leads,
    not a probe per lead per question."""
    met_in_time = and_(SlaTimer.state == TimerState.met, SlaTimer.stopped_at <= SlaTimer.due_at)
    decided = SlaTimer.state.in_((TimerState.met, TimerState.breached, TimerState.escalated))
    return (
        select(
            SlaTimer.subject_id.label("lead_id"),
            func.max(case((met_in_time, 1), else_=0)).label("met_in_time"),
            func.max(case((decided, 1), else_=0)).label("decided"),
        )
        .where(
            SlaTimer.organization_id == actor.organization_id,
            SlaTimer.subject_type == SubjectType.lead.value,
            SlaTimer.kind == kind,
        )
        .group_by(SlaTimer.subject_id)
        .subquery("timer_outcomes")
    )


async def _received_leads(
    session: AsyncSession, actor: Principal, query: KpiQuery, timer: SlaKind
) -> list[dict[str, Any]]:
    """Per group, of the leads received in the period: responded, minutes to the first response
    (median, p90), reached within 24 hours, effective, and the `timer` SLA met in time / decided."""
    dialect = _dialect(session)
    minutes = seconds_between(Lead.created_at, Lead.first_response_at) / 60.0
    received = select(Lead.id).where(*scoped(actor, LEAD_FACTS, query), in_period(Lead.created_at, query))
    received, grouping = group_columns(received, LEAD_FACTS, query, Lead.created_at, dialect)
    reached = and_(
        Lead.first_response_at.is_not(None), seconds_between(Lead.created_at, Lead.first_response_at) <= _DAY
    )
    outcomes = _timer_outcomes(actor, timer)
    counts = (
        received.outerjoin(outcomes, outcomes.c.lead_id == Lead.id)
        .with_only_columns(
            *grouping.columns,
            func.count().label("received"),
            func.count(Lead.first_response_at).label("responded"),
            func.count(Lead.last_effective_follow_up_at).label("effective"),
            func.coalesce(func.sum(case((reached, 1), else_=0)), 0).label("reached_24h"),
            func.coalesce(func.sum(outcomes.c.met_in_time), 0).label("sla_met"),
            func.coalesce(func.sum(outcomes.c.decided), 0).label("sla_decided"),
        )
        .group_by(*grouping.keys)
    )
    spreads: dict[tuple[Any, ...], Any] | None = None
    if dialect == "postgresql":
        # The percentiles in the same pass over the leads (minutes is null where none responded).
        counts = counts.add_columns(*median_and_p90(minutes))
    else:
        # SQLite has no percentile aggregate: a second statement ranks the responses.
        responded = (
            received.with_only_columns(*grouping.columns, minutes.label("value"))
            .where(Lead.first_response_at.is_not(None))
            .subquery("responded")
        )
        spreads = {_key(r, grouping): r for r in await session.execute(spread_columns(responded, dialect))}
    rows = []
    for row in await session.execute(counts.order_by(*grouping.keys)):
        spread = row if spreads is None else spreads.get(_key(row, grouping))
        rows.append(
            {
                **dimension_values(row, grouping),
                "received": row.received,
                "responded": row.responded,
                "effective": row.effective,
                "median_minutes": _minutes(spread.median) if spread else None,
                "p90_minutes": _minutes(spread.p90) if spread else None,
                "reached_24h": row.reached_24h,
                "sla_met": row.sla_met,
                "sla_decided": row.sla_decided,
            }
        )
    return rows


async def lead_response(session: AsyncSession, *, actor: Principal, query: KpiQuery) -> list[dict[str, Any]]:
    """Leads received in the period: how fast the first response came, how many were reached
    within 24 hours, and how many first-response SLA timers were met in time."""
    return [
        {
            **{k: v for k, v in row.items() if k != "effective"},
            "reach_24h_rate": ratio(row["reached_24h"], row["received"]),
            "sla_met_rate": ratio(row["sla_met"], row["sla_decided"]),
        }
        for row in await _received_leads(session, actor, query, SlaKind.first_response)
    ]


# Collaboration score weights (docs/kpis.md#handover): the hand-off SLA, then lead quality and reach.
COLLABORATION_WEIGHTS = {"handoff_sla_met_rate": 0.4, "effective_rate": 0.3, "reach_24h_rate": 0.3}


def collaboration_score(rates: dict[str, float | None]) -> float | None:
    """100 x the weighted mean of the three rates; a rate with nothing to count leaves out its
    weight (the others are scaled up); none at all: null."""
    known = {name: weight for name, weight in COLLABORATION_WEIGHTS.items() if rates.get(name) is not None}
    if not known:
        return None
    total = sum(weight * float(rates[name] or 0) for name, weight in known.items())
    return round(100 * total / sum(known.values()), 1)


async def handover(session: AsyncSession, *, actor: Principal, query: KpiQuery) -> list[dict[str, Any]]:
    """Marketing -> sales: the leads received in the period, how the hand-off SLA went, how soon
    sales followed up, and how many turned out effective."""
    rows = []
    for row in await _received_leads(session, actor, query, SlaKind.handover_response):
        rates = {
            "handoff_sla_met_rate": ratio(row["sla_met"], row["sla_decided"]),
            "effective_rate": ratio(row["effective"], row["received"]),
            "reach_24h_rate": ratio(row["reached_24h"], row["received"]),
        }
        median = row["median_minutes"]
        rows.append(
            {
                **{k: v for k, v in row.items() if not k.startswith(("median", "p90", "sla"))},
                "handoff_sla_met": row["sla_met"],
                "handoff_sla_decided": row["sla_decided"],
                "median_hours_to_follow_up": None if median is None else round(median / 60, 2),
                **rates,
                "collaboration_score": collaboration_score(rates),
            }
        )
    return rows


async def lead_utilization(
    session: AsyncSession, *, actor: Principal, query: KpiQuery
) -> list[dict[str, Any]]:
    """Leads received in the period, and those of them that have had an effective follow-up."""
    dialect = _dialect(session)
    statement = select(Lead.id).where(*scoped(actor, LEAD_FACTS, query), in_period(Lead.created_at, query))
    statement, grouping = group_columns(statement, LEAD_FACTS, query, Lead.created_at, dialect)
    statement = (
        statement.with_only_columns(
            *grouping.columns,
            func.count().label("received"),
            func.count(Lead.last_effective_follow_up_at).label("effective"),
            func.coalesce(func.sum(case((Lead.status == LeadStatus.converted, 1), else_=0)), 0).label(
                "converted"
            ),
        )
        .group_by(*grouping.keys)
        .order_by(*grouping.keys)
    )
    return [
        {
            **dimension_values(row, grouping),
            "received": row.received,
            "effective": row.effective,
            "utilization_rate": ratio(row.effective, row.received),
            "converted": row.converted,
        }
        for row in await session.execute(statement)
    ]


def _followed_records(actor: Principal, query: KpiQuery) -> Any:
    """Each worked lead and owned customer with `since`: its last follow-up, or when it came to
    its owner (a lead's assignment, else its creation; a customer's creation) if never followed."""
    lead_since = func.coalesce(Lead.last_follow_up_at, Lead.assigned_at, Lead.created_at)
    customer_since = func.coalesce(Customer.last_follow_up_at, Customer.created_at)
    return union_all(
        select(
            literal_column(f"'{SubjectType.lead.value}'", String).label("subject_type"),
            Lead.id.label("id"),
            Lead.name.label("name"),
            Lead.owner_id.label("owner_id"),
            lead_since.label("since"),
        ).where(
            *scoped(actor, LEAD_FACTS, query), Lead.owner_id.is_not(None), Lead.status.in_(WORKED_STATUSES)
        ),
        select(
            literal_column(f"'{SubjectType.customer.value}'", String).label("subject_type"),
            Customer.id.label("id"),
            Customer.name.label("name"),
            Customer.owner_id.label("owner_id"),
            customer_since.label("since"),
        ).where(
            *scoped(actor, CUSTOMER_FACTS, query),
            Customer.owner_id.is_not(None),
            Customer.merged_into_id.is_(None),  # a merged customer's follow-ups are its survivor's
        ),
    ).subquery("followed")


def _stale_before(query: KpiQuery) -> Any:
    return query.now - timedelta(days=query.stale_after_days)


async def follow_up(session: AsyncSession, *, actor: Principal, query: KpiQuery) -> list[dict[str, Any]]:
    """Worked leads and owned customers now: how many were followed up within the last N days."""
    records = _followed_records(actor, query)
    facts = Facts(
        organization_id=None,
        owner_id=records.c.owner_id,
        region=None,
        industry=None,
        source=None,
        joins={Dimension.team: team_join(records.c.owner_id)},
    )
    statement, grouping = group_columns(select(records.c.id), facts, query, None, _dialect(session))
    fresh = records.c.since >= _stale_before(query)
    is_lead = records.c.subject_type == SubjectType.lead.value

    def count(*conditions: Any) -> Any:
        return func.coalesce(func.sum(case((and_(*conditions), 1), else_=0)), 0)

    statement = (
        statement.with_only_columns(
            *grouping.columns,
            count(is_lead).label("leads_active"),
            count(is_lead, fresh).label("leads_followed"),
            count(~is_lead).label("customers_active"),
            count(~is_lead, fresh).label("customers_followed"),
        )
        .group_by(*grouping.keys)
        .order_by(*grouping.keys)
    )
    rows = []
    for row in await session.execute(statement):
        active = row.leads_active + row.customers_active
        followed = row.leads_followed + row.customers_followed
        rows.append(
            {
                **dimension_values(row, grouping),
                "days": query.stale_after_days,
                "leads_active": row.leads_active,
                "leads_followed": row.leads_followed,
                "customers_active": row.customers_active,
                "customers_followed": row.customers_followed,
                "active": active,
                "followed": followed,
                "follow_up_rate": ratio(followed, active),
            }
        )
    return rows


_STALE_ORDER = SortOrder("since", descending=False)


async def stale(session: AsyncSession, *, actor: Principal, query: KpiQuery) -> Listing:
    """Worked leads and owned customers not followed up for N days: the longest forgotten first,
    a page at a time, with the totals."""
    records = _followed_records(actor, query)
    is_stale = records.c.since < _stale_before(query)
    totals: dict[str, int] = dict(
        (
            await session.execute(
                select(records.c.subject_type, func.count()).where(is_stale).group_by(records.c.subject_type)
            )
        ).all()
    )
    page = (
        select(*records.c, User.display_name.label("owner_name"))
        .select_from(records.outerjoin(User, User.id == records.c.owner_id))
        .where(is_stale)
        .order_by(records.c.since, records.c.id)
        .limit(query.limit + 1)
    )
    if query.cursor is not None:
        since, record_id = decode_cursor(query.cursor, _STALE_ORDER)
        if not isinstance(since, datetime):
            raise invalid_cursor()
        page = page.where(
            or_(records.c.since > since, and_(records.c.since == since, records.c.id > record_id))
        )
    found = (await session.execute(page)).all()
    next_cursor = None
    if len(found) > query.limit:
        found = found[: query.limit]
        next_cursor = encode_cursor(_STALE_ORDER, found[-1].since, found[-1].id)
    rows = [
        {
            "subject_type": row.subject_type,
            "subject_id": str(row.id),
            "name": row.name,
            "owner": {"id": str(row.owner_id), "name": row.owner_name},
            "last_follow_up_or_since": row.since,
            "days_since": int((query.now - row.since).total_seconds() // 86400),
        }
        for row in found
    ]
    leads, customers = totals.get(SubjectType.lead.value, 0), totals.get(SubjectType.customer.value, 0)
    return Listing(
        rows,
        {
            "days": query.stale_after_days,
            "stale_leads": leads,
            "stale_customers": customers,
            "stale_total": leads + customers,
            "next_cursor": next_cursor,
        },
    )
