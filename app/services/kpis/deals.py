"""Opportunity KPIs: rep-performance and sales-cycle (deals closed in the period), the funnel
(stage entries), stage-dwell (stays ended), and pipeline and forecast (open deals now).
Definitions: docs/kpis.md."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import UTCDateTime
from app.domain.identity.principal import Principal
from app.domain.models import (
    Customer,
    Lead,
    Opportunity,
    OpportunityStatus,
    PipelineStage,
    StageStay,
)
from app.domain.pipelines.pipelines import StageKind
from app.domain.reports.kpis import Dimension, KpiQuery, ratio
from app.portable_sql import seconds_between
from app.services.kpis.scope import (
    Facts,
    Grouping,
    customer_attribute,
    dimension_values,
    group_columns,
    in_period,
    lead_source,
    scoped,
    spread_columns,
    team_join,
)

_CUSTOMER = (Customer, Customer.id == Opportunity.customer_id)
_SOURCE_LEAD = (Lead, Lead.id == Opportunity.source_lead_id)

# An opportunity's region and industry are its customer's; its source is the source of the lead
# it was converted from (none for one created directly or imported).
OPPORTUNITY_FACTS = Facts(
    organization_id=Opportunity.organization_id,
    owner_id=Opportunity.owner_id,
    region=Customer.region,
    industry=Customer.industry,
    source=Lead.source,
    pipeline_id=Opportunity.pipeline_id,
    stage_id=Opportunity.stage_id,
    product_lines=Opportunity.product_lines,
    joins={
        Dimension.team: team_join(Opportunity.owner_id),
        Dimension.region: _CUSTOMER,
        Dimension.industry: _CUSTOMER,
        Dimension.source: _SOURCE_LEAD,
    },
    region_filter=customer_attribute(Opportunity.customer_id, Customer.region),
    industry_filter=customer_attribute(Opportunity.customer_id, Customer.industry),
    source_filter=lead_source(Opportunity.source_lead_id),
)
_SECONDS_PER_DAY = 86400.0


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _closed_deals(
    actor: Principal, query: KpiQuery, dialect: str, *columns: Any
) -> tuple[Select[Any], Grouping]:
    """Opportunities whose current outcome is won or lost and whose close falls in the period: a
    reopened deal is open again and counts nowhere until it closes anew, at its new close."""
    statement = select(Opportunity.id).where(
        *scoped(actor, OPPORTUNITY_FACTS, query),
        Opportunity.status.in_((OpportunityStatus.won, OpportunityStatus.lost)),
        in_period(Opportunity.closed_at, query),
    )
    statement, grouping = group_columns(statement, OPPORTUNITY_FACTS, query, Opportunity.closed_at, dialect)
    return statement.with_only_columns(*grouping.columns, *columns), grouping


def _money(value: Any) -> str:
    return str(Decimal(value or 0).quantize(Decimal("0.01")))


async def rep_performance(
    session: AsyncSession, *, actor: Principal, query: KpiQuery
) -> list[dict[str, Any]]:
    dialect = _dialect(session)
    won = Opportunity.status == OpportunityStatus.won
    statement, grouping = _closed_deals(
        actor,
        query,
        dialect,
        # COALESCE: without group_by, an empty period is one row of zeros, not of NULLs.
        func.coalesce(func.sum(case((won, 1), else_=0)), 0).label("won_count"),
        func.coalesce(func.sum(case((won, 0), else_=1)), 0).label("lost_count"),
        func.coalesce(func.sum(case((won, func.coalesce(Opportunity.amount, 0)), else_=0)), 0).label(
            "won_amount"
        ),
        func.count(func.distinct(Opportunity.owner_id)).label("active_reps"),
    )
    statement = statement.group_by(*grouping.keys).order_by(*grouping.keys)
    rows = []
    for row in await session.execute(statement):
        won_amount = Decimal(row.won_amount or 0)
        closed = row.won_count + row.lost_count
        rows.append(
            {
                **dimension_values(row, grouping),
                "won_count": row.won_count,
                "lost_count": row.lost_count,
                "closed_count": closed,
                "win_rate": ratio(row.won_count, closed),
                "won_amount": _money(won_amount),
                "active_reps": row.active_reps,
                "output_per_rep": _money(won_amount / row.active_reps) if row.active_reps else None,
            }
        )
    return rows


def engaged_at() -> Any:
    """An opportunity's first stage entry: when it was engaged (for imports, the engage date)."""
    return (
        select(func.min(StageStay.entered_at))
        .where(
            StageStay.organization_id == Opportunity.organization_id,
            StageStay.opportunity_id == Opportunity.id,
        )
        .correlate(Opportunity)
        .scalar_subquery()
    )


def _days(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


async def sales_cycle(session: AsyncSession, *, actor: Principal, query: KpiQuery) -> list[dict[str, Any]]:
    dialect = _dialect(session)
    statement, grouping = _closed_deals(
        actor,
        query,
        dialect,
        (seconds_between(engaged_at(), Opportunity.closed_at) / _SECONDS_PER_DAY).label("value"),
    )
    won_deals = statement.where(Opportunity.status == OpportunityStatus.won).subquery("won_deal")
    spread = spread_columns(won_deals, dialect)
    spread = spread.order_by(*[c for c in spread.selected_columns if c.name in grouping.labels()])
    return [
        {
            **dimension_values(row, grouping),
            "won_count": row.n or 0,
            "avg_days": _days(row.mean),
            "median_days": _days(row.median),
            "p90_days": _days(row.p90),
        }
        for row in await session.execute(spread)
    ]


def _stays_in_scope(statement: Select[Any], actor: Principal, query: KpiQuery) -> Select[Any]:
    """Stage stays scoped as their opportunities are (owner, filters, groups). The opportunity is
    joined only when one of those needs it: a stay is in its opportunity's organization, so for
    someone seeing the whole organization, unfiltered and ungrouped, the stay's own organization
    is the whole scope, and no opportunity is read."""
    if actor.sees_whole_organization and not query.filters.given() and not query.group_by:
        return statement
    return statement.join(Opportunity, Opportunity.id == StageStay.opportunity_id).where(
        *scoped(actor, OPPORTUNITY_FACTS, query)
    )


async def funnel(session: AsyncSession, *, actor: Principal, query: KpiQuery) -> list[dict[str, Any]]:
    """Per stage: opportunities that entered it in the period, and of those the ones that later
    entered a further stage of the pipeline (not the lost stage)."""
    dialect = _dialect(session)
    later = StageStay.__table__.alias("later_stay")
    later_stage = PipelineStage.__table__.alias("later_stage")
    advanced = (
        select(later.c.id)
        .join(later_stage, later_stage.c.id == later.c.stage_id)
        .where(
            later.c.organization_id == StageStay.organization_id,
            later.c.opportunity_id == StageStay.opportunity_id,
            later.c.entered_at > StageStay.entered_at,
            later_stage.c.position > PipelineStage.position,
            later_stage.c.kind != StageKind.lost.value,
        )
        .exists()
    )
    statement = (
        select(StageStay.id)
        .join(PipelineStage, PipelineStage.id == StageStay.stage_id)
        .where(
            StageStay.organization_id == actor.organization_id,
            in_period(StageStay.entered_at, query),
            PipelineStage.kind != StageKind.lost,
        )
    )
    statement = _stays_in_scope(statement, actor, query)
    statement, grouping = group_columns(statement, OPPORTUNITY_FACTS, query, StageStay.entered_at, dialect)
    stage_keys = [PipelineStage.pipeline_id, PipelineStage.position, PipelineStage.id, PipelineStage.name]
    statement = (
        statement.with_only_columns(
            *grouping.columns,
            *stage_keys,
            func.count(func.distinct(StageStay.opportunity_id)).label("entered"),
            func.count(func.distinct(case((advanced, StageStay.opportunity_id)))).label("converted"),
        )
        .group_by(*grouping.keys, *stage_keys)
        .order_by(*grouping.keys, PipelineStage.pipeline_id, PipelineStage.position)
    )
    return [
        {
            **dimension_values(row, grouping),
            "stage": {"id": str(row.id), "name": row.name},
            "position": row.position,
            "entered": row.entered,
            "converted_to_next": row.converted,
            "conversion_rate": ratio(row.converted, row.entered),
        }
        for row in await session.execute(statement)
    ]


def _hours(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


async def stage_dwell(session: AsyncSession, *, actor: Principal, query: KpiQuery) -> list[dict[str, Any]]:
    """Per open stage: stays that ended (the opportunity left the stage) in the period, and the
    hours they lasted."""
    dialect = _dialect(session)
    statement = (
        select(StageStay.id)
        .join(PipelineStage, PipelineStage.id == StageStay.stage_id)
        .where(
            StageStay.organization_id == actor.organization_id,
            in_period(StageStay.left_at, query),
            PipelineStage.kind == StageKind.open,
        )
    )
    statement = _stays_in_scope(statement, actor, query)
    statement, grouping = group_columns(statement, OPPORTUNITY_FACTS, query, StageStay.left_at, dialect)
    stays = statement.with_only_columns(
        *grouping.columns,
        PipelineStage.pipeline_id.label("stage_pipeline_id"),
        PipelineStage.position.label("stage_position"),
        PipelineStage.id.label("stage_id"),
        PipelineStage.name.label("stage_name"),
        (StageStay.dwell_seconds / 3600.0).label("value"),
    ).subquery("left_stay")
    spread = spread_columns(stays, dialect)
    order = [*grouping.labels(), "stage_pipeline_id", "stage_position"]
    spread = spread.order_by(*[c for name in order for c in spread.selected_columns if c.name == name])
    return [
        {
            **dimension_values(row, grouping),
            "stage": {"id": str(row.stage_id), "name": row.stage_name},
            "position": row.stage_position,
            "left_count": row.n,
            "avg_hours": _hours(row.mean),
            "median_hours": _hours(row.median),
            "p90_hours": _hours(row.p90),
        }
        for row in await session.execute(spread)
    ]


def _weighted(amount: Any, probability: Any) -> Any:
    return func.coalesce(amount, 0) * probability / 100.0


async def pipeline(session: AsyncSession, *, actor: Principal, query: KpiQuery) -> list[dict[str, Any]]:
    """Open opportunities now, per stage: how many, their amount, the amount weighted by the
    stage's probability, and their average age since engaged."""
    dialect = _dialect(session)
    now = literal(query.now, UTCDateTime)
    statement = (
        select(Opportunity.id)
        .join(PipelineStage, PipelineStage.id == Opportunity.stage_id)
        .where(Opportunity.status == OpportunityStatus.open, *scoped(actor, OPPORTUNITY_FACTS, query))
    )
    # A snapshot: no period dimension to place it in.
    statement, grouping = group_columns(statement, OPPORTUNITY_FACTS, query, None, dialect)
    stage_keys = [PipelineStage.pipeline_id, PipelineStage.position, PipelineStage.id, PipelineStage.name]
    statement = (
        statement.with_only_columns(
            *grouping.columns,
            *stage_keys,
            func.count().label("open_count"),
            func.coalesce(func.sum(Opportunity.amount), 0).label("amount"),
            func.sum(_weighted(Opportunity.amount, PipelineStage.probability)).label("weighted"),
            func.avg(seconds_between(engaged_at(), now) / _SECONDS_PER_DAY).label("age"),
        )
        .group_by(*grouping.keys, *stage_keys)
        .order_by(*grouping.keys, PipelineStage.pipeline_id, PipelineStage.position)
    )
    return [
        {
            **dimension_values(row, grouping),
            "stage": {"id": str(row.id), "name": row.name},
            "position": row.position,
            "open_count": row.open_count,
            "amount": _money(row.amount),
            "weighted_amount": _money(row.weighted),
            "avg_age_days": _days(row.age),
        }
        for row in await session.execute(statement)
    ]


def _month_of(day: Any, dialect: str) -> Any:
    return func.to_char(day, "YYYY-MM") if dialect == "postgresql" else func.strftime("%Y-%m", day)


async def forecast(session: AsyncSession, *, actor: Principal, query: KpiQuery) -> list[dict[str, Any]]:
    """Open opportunities by expected close month in the period: count, amount, and the amount
    weighted by the stage's probability (the win probability once it is stored)."""
    dialect = _dialect(session)
    tz = ZoneInfo(query.timezone)
    first_day, after_last = query.start.astimezone(tz).date(), query.end.astimezone(tz).date()
    if query.end.astimezone(tz).time() != time(0):
        after_last += timedelta(days=1)  # the period ends within that day: the day is in
    statement = (
        select(Opportunity.id)
        .join(PipelineStage, PipelineStage.id == Opportunity.stage_id)
        .where(
            Opportunity.status == OpportunityStatus.open,
            Opportunity.expected_close_date >= first_day,
            Opportunity.expected_close_date < after_last,
            *scoped(actor, OPPORTUNITY_FACTS, query),
        )
    )
    # Always per close month; no other period dimension.
    statement, grouping = group_columns(statement, OPPORTUNITY_FACTS, query, None, dialect)
    month = _month_of(Opportunity.expected_close_date, dialect)
    statement = (
        statement.with_only_columns(
            *grouping.columns,
            month.label("close_month"),
            func.count().label("open_count"),
            func.coalesce(func.sum(Opportunity.amount), 0).label("amount"),
            func.sum(_weighted(Opportunity.amount, PipelineStage.probability)).label("weighted"),
        )
        .group_by(*grouping.keys, month)
        .order_by(month, *grouping.keys)
    )
    return [
        {
            **dimension_values(row, grouping),
            "close_month": {"id": f"{row.close_month}-01", "name": row.close_month},
            "open_count": row.open_count,
            "amount": _money(row.amount),
            "weighted_amount": _money(row.weighted),
        }
        for row in await session.execute(statement)
    ]
