"""One KPI request end to end: the caller's visibility checked, the period and grouping parsed in
the organization's time zone, then the KPI's query."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.models import Organization
from app.domain.platform.errors import FieldError, InvalidInput
from app.domain.reports.kpis import (
    DEFAULT_STALE_DAYS,
    Dimension,
    Filter,
    KpiFilters,
    KpiName,
    KpiQuery,
    parse_group_by,
    period,
    zone,
)
from app.services.kpis import activities, brief, deals, leads, marketing, pei, people
from app.services.kpis.scope import Listing, check_filters

Compute = Callable[..., Awaitable[list[dict[str, Any]] | Listing]]

_PERIODS = frozenset({Dimension.day, Dimension.week, Dimension.month})
_PEOPLE = frozenset({Dimension.user, Dimension.team})
_DEAL_DIMENSIONS = (
    _PEOPLE
    | _PERIODS
    | {
        Dimension.region,
        Dimension.industry,
        Dimension.source,
        Dimension.pipeline,
        Dimension.product,
    }
)
_LEAD_DIMENSIONS = (
    _PEOPLE
    | _PERIODS
    | {Dimension.region, Dimension.industry, Dimension.source, Dimension.campaign, Dimension.channel}
)
_ALL_FILTERS = frozenset(Filter)
_LEAD_FILTERS = _ALL_FILTERS - {Filter.pipeline_id}
_PEOPLE_FILTERS = frozenset({Filter.team_id, Filter.user_id})


@dataclass(frozen=True)
class KpiSpec:
    compute: Compute
    dimensions: frozenset[Dimension]
    filters: frozenset[Filter] = _ALL_FILTERS
    # A snapshot describes now (what is open or stale); `from` and `to` do not apply.
    snapshot: bool = False
    # How many values one filter may repeat (alternatives, OR).
    max_filter_values: int = 50
    ahead: bool = False  # the default period looks forward (a forecast)
    # A marketing KPI: also for marketing users (permission kpi:marketing), over the organization.
    marketing: bool = False


CATALOG: dict[KpiName, KpiSpec] = {
    KpiName.rep_performance: KpiSpec(deals.rep_performance, _DEAL_DIMENSIONS),
    KpiName.sales_cycle: KpiSpec(deals.sales_cycle, _DEAL_DIMENSIONS),
    # Funnel, stage dwell and pipeline are always per stage.
    KpiName.funnel: KpiSpec(deals.funnel, _DEAL_DIMENSIONS),
    KpiName.stage_dwell: KpiSpec(deals.stage_dwell, _DEAL_DIMENSIONS),
    KpiName.pipeline: KpiSpec(deals.pipeline, _DEAL_DIMENSIONS - _PERIODS, snapshot=True),
    # Always per expected close month.
    KpiName.forecast: KpiSpec(deals.forecast, _PEOPLE, ahead=True),
    KpiName.lead_response: KpiSpec(leads.lead_response, _LEAD_DIMENSIONS, _LEAD_FILTERS),
    KpiName.lead_utilization: KpiSpec(leads.lead_utilization, _LEAD_DIMENSIONS, _LEAD_FILTERS),
    KpiName.handover: KpiSpec(leads.handover, _LEAD_DIMENSIONS, _LEAD_FILTERS),
    KpiName.follow_up: KpiSpec(leads.follow_up, _PEOPLE, _PEOPLE_FILTERS, snapshot=True),
    KpiName.stale: KpiSpec(leads.stale, frozenset(), _PEOPLE_FILTERS, snapshot=True),
    # Always per local weekday and hour.
    KpiName.contact_heatmap: KpiSpec(activities.contact_heatmap, _PEOPLE, _PEOPLE_FILTERS),
    # Always per rep.
    KpiName.time_to_first_deal: KpiSpec(people.time_to_first_deal, frozenset(), _PEOPLE_FILTERS),
    # Always per rep and week.
    KpiName.pei: KpiSpec(pei.pei, frozenset(), _PEOPLE_FILTERS),
    # Rows: the reps with stale records; the rest of the brief is in the envelope.
    # For one team and one person at most.
    KpiName.daily_brief: KpiSpec(
        brief.daily_brief, frozenset(), _PEOPLE_FILTERS, snapshot=True, max_filter_values=1
    ),
    # Always per owner; for one team and one person at most.
    KpiName.status_board: KpiSpec(
        brief.status_board, frozenset(), _PEOPLE_FILTERS, snapshot=True, max_filter_values=1
    ),
    # Always per campaign, or per channel.
    KpiName.campaign_roi: KpiSpec(
        marketing.campaign_roi, frozenset({Dimension.channel}), _LEAD_FILTERS, marketing=True
    ),
    # Always per source and campaign.
    KpiName.source_quality: KpiSpec(marketing.source_quality, frozenset(), _LEAD_FILTERS, marketing=True),
}


@dataclass(frozen=True)
class KpiRequest:
    start: str | None
    end: str | None
    timezone: str | None
    group_by: str | None
    filters: KpiFilters
    stale_after_days: int = DEFAULT_STALE_DAYS
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True)
class KpiResult:
    query: KpiQuery
    rows: list[dict[str, Any]]
    extras: dict[str, Any] = field(default_factory=dict)


def _refuse(field_name: str, code: str, message: str, detail: str) -> InvalidInput:
    return InvalidInput(detail, code="kpi.parameter_invalid", errors=[FieldError(field_name, code, message)])


def may_read(actor: Principal, name: KpiName) -> bool:
    """Whoever reads KPIs reads this one; a marketing KPI also marketing users."""
    return actor.can(Permission.kpi_read) or (
        CATALOG[name].marketing and actor.can(Permission.marketing_kpi_read)
    )


def _viewer(actor: Principal, spec: KpiSpec) -> Principal:
    """Whose visibility the figures follow: a marketing user reads a marketing KPI over the whole
    organization (they run every campaign and own none of its leads); everyone else as themselves."""
    if spec.marketing and not actor.can(Permission.kpi_read) and actor.can(Permission.marketing_kpi_read):
        return Principal.system(actor.organization_id)
    return actor


async def compute_kpi(
    session: AsyncSession, *, actor: Principal, name: KpiName, request: KpiRequest, now: datetime
) -> KpiResult:
    spec = CATALOG[name]
    actor = _viewer(actor, spec)
    group_by = parse_group_by(request.group_by, spec.dimensions)
    unsupported = sorted(request.filters.given() - spec.filters)
    if unsupported:
        raise InvalidInput(
            f"{name} cannot be filtered by " + ", ".join(unsupported) + ".",
            code="kpi.parameter_invalid",
            errors=[FieldError(f, "filter.unsupported", f"{name} does not offer it") for f in unsupported],
        )
    repeated = [f for f, values in request.filters.values().items() if len(values) > spec.max_filter_values]
    if repeated:
        raise InvalidInput(
            f"{name} takes at most {spec.max_filter_values} value(s) of " + ", ".join(repeated) + ".",
            code="kpi.parameter_invalid",
            errors=[FieldError(f, "filter.repeated", f"at most {spec.max_filter_values}") for f in repeated],
        )
    if spec.snapshot and (request.start or request.end):
        field_name = "from" if request.start else "to"
        raise _refuse(field_name, "period.not_applicable", "a snapshot of now", f"{name} describes now.")
    if request.timezone is None:
        timezone = await session.scalar(
            select(Organization.timezone).where(Organization.id == actor.organization_id)
        )
        assert timezone is not None
    else:
        timezone = request.timezone
    tz = zone(timezone)
    if spec.snapshot:
        start = end = now
    else:
        start, end = period(request.start, request.end, tz, now, ahead=spec.ahead)
    await check_filters(session, actor, request.filters)
    query = KpiQuery(
        start=start,
        end=end,
        timezone=timezone,
        now=now,
        group_by=group_by,
        filters=request.filters,
        stale_after_days=request.stale_after_days,
        limit=request.limit,
        cursor=request.cursor,
    )
    figures = await spec.compute(session, actor=actor, query=query)
    if isinstance(figures, Listing):
        return KpiResult(query=query, rows=figures.rows, extras=figures.extras)
    return KpiResult(query=query, rows=figures)
