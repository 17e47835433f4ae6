"""One KPI request end to end: the caller's visibility checked, the period and grouping parsed in
the organization's time zone, then the KPI's query."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.kpis import Dimension, KpiFilters, KpiName, KpiQuery, parse_group_by, period, zone
from app.domain.models import Organization
from app.domain.principal import Principal
from app.services.kpis import deals
from app.services.kpis.scope import check_filters

Compute = Callable[..., Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True)
class KpiSpec:
    compute: Compute
    dimensions: frozenset[Dimension]


_DEAL_DIMENSIONS = frozenset(Dimension) - {Dimension.stage, Dimension.product}

CATALOG: dict[KpiName, KpiSpec] = {
    KpiName.rep_performance: KpiSpec(deals.rep_performance, _DEAL_DIMENSIONS),
    KpiName.sales_cycle: KpiSpec(deals.sales_cycle, _DEAL_DIMENSIONS),
    # Always per stage; stage is not a group_by of its own.
    KpiName.funnel: KpiSpec(deals.funnel, _DEAL_DIMENSIONS),
}


@dataclass(frozen=True)
class KpiRequest:
    start: str | None
    end: str | None
    timezone: str | None
    group_by: str | None
    filters: KpiFilters


@dataclass(frozen=True)
class KpiResult:
    query: KpiQuery
    rows: list[dict[str, Any]]


async def compute_kpi(
    session: AsyncSession, *, actor: Principal, name: KpiName, request: KpiRequest, now: datetime
) -> KpiResult:
    spec = CATALOG[name]
    group_by = parse_group_by(request.group_by, spec.dimensions)
    if request.timezone is None:
        timezone = await session.scalar(
            select(Organization.timezone).where(Organization.id == actor.organization_id)
        )
        assert timezone is not None
    else:
        timezone = request.timezone
    tz = zone(timezone)
    start, end = period(request.start, request.end, tz, now)
    await check_filters(session, actor, request.filters)
    query = KpiQuery(start=start, end=end, timezone=timezone, group_by=group_by, filters=request.filters)
    return KpiResult(query=query, rows=await spec.compute(session, actor=actor, query=query))
