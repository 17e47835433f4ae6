"""The daily brief (what a manager reads at 8 am, in one call, each figure with the link that
drills into it, composed of the other KPIs' queries) and the status board's counts as a KPI.
Definitions: docs/kpis.md#daily-brief, #status-board."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import Lead, SlaTimer
from app.domain.reports.kpis import DEFAULT_STALE_DAYS, Dimension, KpiQuery, ratio
from app.domain.sla.sla import TimerState
from app.services.kpis import deals, leads
from app.services.kpis.scope import Facts, Listing, in_period, period_name, scoped
from app.services.reports.status_board import BoardFilters, summarize_board

API = "/api/v1"
TREND_WEEKS = 4
TIMER_FACTS = Facts(
    organization_id=SlaTimer.organization_id,
    owner_id=SlaTimer.owner_id,
    region=None,
    industry=None,
    source=None,
)


def _link(path: str, **params: Any) -> str:
    given = {k: v for k, v in params.items() if v is not None}
    return f"{API}{path}" + (f"?{urlencode(given, doseq=True)}" if given else "")


def _filters(query: KpiQuery) -> dict[str, Any]:
    return {
        "team_id": [str(t) for t in query.filters.team_ids] or None,
        "user_id": [str(u) for u in query.filters.user_ids] or None,
    }


def _board_filters(query: KpiQuery) -> BoardFilters:
    return BoardFilters(
        owner_id=next(iter(query.filters.user_ids), None), team_id=next(iter(query.filters.team_ids), None)
    )


async def daily_brief(session: AsyncSession, *, actor: Principal, query: KpiQuery) -> Listing:
    tz = ZoneInfo(query.timezone)
    today = datetime.combine(query.now.astimezone(tz).date(), time(0), tz)
    yesterday = today - timedelta(days=1)
    people = _filters(query)
    new_leads = await _new_leads(session, actor, replace(query, start=yesterday, end=today))
    stale_per_rep = await _stale_per_rep(session, actor, query)
    breached = await _breaches(session, actor, replace(query, start=today, end=query.now))
    board = await summarize_board(session, actor=actor, now=query.now, filters=_board_filters(query))
    trend = await _conversion_trend(session, actor, query, today, people)
    day = yesterday.date().isoformat()
    return Listing(
        stale_per_rep,
        {
            "as_of": query.now,
            "new_leads_yesterday": {
                "count": new_leads,
                "drill_down": _link(
                    "/kpis/lead-response",
                    **{"from": day, "to": day},
                    tz=query.timezone,
                    group_by="user",
                    **people,
                ),
            },
            "sla_breaches_today": {
                "count": breached,
                "drill_down": _link("/sla-timers", state=TimerState.breached.value),
            },
            "red_items": {"count": board.counts.red, "drill_down": _link("/status-board", rag="red")},
            "conversion_trend": trend,
        },
    )


async def _new_leads(session: AsyncSession, actor: Principal, day: KpiQuery) -> int:
    count = await session.scalar(
        select(func.count()).where(*scoped(actor, leads.LEAD_FACTS, day), in_period(Lead.created_at, day))
    )
    return count or 0


async def _stale_per_rep(session: AsyncSession, actor: Principal, query: KpiQuery) -> list[dict[str, Any]]:
    """Reps with leads or customers not followed up for a week, the most behind first."""
    stale_query = replace(query, group_by=(Dimension.user,), stale_after_days=DEFAULT_STALE_DAYS)
    stale_per_rep = [
        {
            "user": row["user"],
            "stale_leads": row["leads_active"] - row["leads_followed"],
            "stale_customers": row["customers_active"] - row["customers_followed"],
            "drill_down": _link("/kpis/stale", user_id=row["user"]["id"] if row["user"] else None),
        }
        for row in await leads.follow_up(session, actor=actor, query=stale_query)
        if row["active"] > row["followed"]
    ]
    stale_per_rep.sort(key=lambda r: (-(r["stale_leads"] + r["stale_customers"]), r["user"]["name"]))
    return stale_per_rep


async def _breaches(session: AsyncSession, actor: Principal, period: KpiQuery) -> int:
    """Timers due in the period and not met by their due time."""
    count = await session.scalar(
        select(func.count()).where(
            *scoped(actor, TIMER_FACTS, period),
            in_period(SlaTimer.due_at, period),
            or_(
                SlaTimer.state.in_((TimerState.breached, TimerState.escalated)),
                and_(SlaTimer.state == TimerState.met, SlaTimer.stopped_at > SlaTimer.due_at),
            ),
        )
    )
    return count or 0


async def _conversion_trend(
    session: AsyncSession, actor: Principal, query: KpiQuery, today: datetime, people: dict[str, Any]
) -> list[dict[str, Any]]:
    """Lead conversion and win rate in the last four whole weeks, Monday to Sunday, before this one."""
    this_monday = today - timedelta(days=today.weekday())
    trend_query = replace(
        query, start=this_monday - timedelta(weeks=TREND_WEEKS), end=this_monday, group_by=(Dimension.week,)
    )
    received = {
        r["week"]["id"]: r for r in await leads.lead_utilization(session, actor=actor, query=trend_query)
    }
    closed = {
        r["week"]["id"]: r for r in await deals.rep_performance(session, actor=actor, query=trend_query)
    }
    trend = []
    for weeks_back in range(TREND_WEEKS, 0, -1):
        monday = (this_monday - timedelta(weeks=weeks_back)).date()
        key = monday.isoformat()
        lead_row, deal_row = received.get(key, {}), closed.get(key, {})
        trend.append(
            {
                "week": {"id": key, "name": period_name(Dimension.week, key)},
                "leads_received": lead_row.get("received", 0),
                "leads_converted": lead_row.get("converted", 0),
                "lead_conversion_rate": ratio(lead_row.get("converted", 0), lead_row.get("received", 0)),
                "deals_won": deal_row.get("won_count", 0),
                "deals_closed": deal_row.get("closed_count", 0),
                "win_rate": ratio(deal_row.get("won_count", 0), deal_row.get("closed_count", 0)),
                "drill_down": _link(
                    "/kpis/funnel",
                    **{"from": key, "to": (monday + timedelta(days=6)).isoformat()},
                    tz=query.timezone,
                    **people,
                ),
            }
        )
    return trend


async def status_board(session: AsyncSession, *, actor: Principal, query: KpiQuery) -> list[dict[str, Any]]:
    """The status board's counts per owner (app/services/reports/status_board.py decides the colours)."""
    summary = await summarize_board(session, actor=actor, now=query.now, filters=_board_filters(query))
    return [
        {
            "user": {"id": str(o.owner.id), "name": o.owner.display_name} if o.owner else None,
            "green": o.counts.green,
            "yellow": o.counts.yellow,
            "red": o.counts.red,
            "total": o.counts.total,
        }
        for o in summary.owners
    ]
