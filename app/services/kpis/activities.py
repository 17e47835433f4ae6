"""Activity KPIs: the contact heatmap (connect rate of calls by local weekday and hour).
Definitions: docs/kpis.md."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.activities.activities import ActivityType, CallOutcome
from app.domain.identity.principal import Principal
from app.domain.models import Activity
from app.domain.reports.kpis import Dimension, KpiQuery, ratio
from app.services.kpis.scope import (
    Facts,
    dimension_values,
    group_columns,
    in_period,
    scoped,
    team_join,
)
from app.services.platform.local_clock import local_weekday_and_hour

ACTIVITY_FACTS = Facts(
    organization_id=Activity.organization_id,
    owner_id=Activity.owner_id,
    region=None,
    industry=None,
    source=None,
    joins={Dimension.team: team_join(Activity.owner_id)},
    # A late entry's time is the rep's word, entered days after: it counts on no weekday or week.
    counts=Activity.late_entry.is_(False),
)


async def contact_heatmap(
    session: AsyncSession, *, actor: Principal, query: KpiQuery
) -> list[dict[str, Any]]:
    """Calls made in the period per local weekday and hour: how many, how many connected."""
    dialect = session.get_bind().dialect.name
    weekday, hour = local_weekday_and_hour(Activity.occurred_at, query, dialect)
    statement = select(Activity.id).where(
        *scoped(actor, ACTIVITY_FACTS, query),
        Activity.type == ActivityType.call,
        in_period(Activity.occurred_at, query),
    )
    statement, grouping = group_columns(statement, ACTIVITY_FACTS, query, Activity.occurred_at, dialect)
    connected = case((Activity.call_outcome == CallOutcome.connected, 1), else_=0)
    statement = (
        statement.with_only_columns(
            *grouping.columns,
            weekday.label("weekday"),
            hour.label("hour"),
            func.count().label("calls"),
            func.sum(connected).label("connected"),
        )
        .group_by(*grouping.keys, weekday, hour)
        .order_by(*grouping.keys, weekday, hour)
    )
    return [
        {
            **dimension_values(row, grouping),
            "weekday": row.weekday,
            "hour": row.hour,
            "calls": row.calls,
            "connected": row.connected,
            "connect_rate": ratio(row.connected, row.calls),
        }
        for row in await session.execute(statement)
    ]
