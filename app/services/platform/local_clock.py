"""The wall-clock time of an instant in a query's time zone, as SQL both dialects run.

KPIs group by local days, weeks and hours; the golden hour of next-best actions counts calls by the
same local weekday and hour as the contact heatmap, so both read them from here.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, case, cast, func

from app.domain.reports.kpis import KpiQuery, utc_offsets


def local_time(timestamp: Any, query: KpiQuery, dialect: str) -> Any:
    """The instant as wall-clock time in the query's time zone."""
    if dialect == "postgresql":
        return func.timezone(query.timezone, timestamp)
    # SQLite has no time zone data: shift by the zone's offset(s) over the period.
    offsets = utc_offsets(ZoneInfo(query.timezone), query.start, query.end)
    shifted = [func.datetime(timestamp, f"{seconds:+d} seconds") for _, seconds in offsets]
    changes = list(zip(offsets[1:], shifted[1:], strict=True))
    if not changes:
        return shifted[0]
    return case(*[(timestamp >= since, expr) for (since, _), expr in reversed(changes)], else_=shifted[0])


def local_weekday_and_hour(timestamp: Any, query: KpiQuery, dialect: str) -> tuple[Any, Any]:
    """ISO weekday (1 Monday .. 7 Sunday) and hour (0..23) of the instant in the query's zone."""
    local = local_time(timestamp, query, dialect)
    if dialect == "postgresql":
        return (
            cast(func.extract("isodow", local), Integer),
            cast(func.extract("hour", local), Integer),
        )
    sunday_first = cast(func.strftime("%w", local), Integer)
    return (sunday_first + 6) % 7 + 1, cast(func.strftime("%H", local), Integer)
