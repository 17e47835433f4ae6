"""Latency of every KPI endpoint on a database made by bench/scale_data.py (`--preset kpi`), each next
to a hand-written SQL query computing the same figures from docs/kpis.md, and whether both agree.

Two windows per KPI, as the director: the organization over the last 90 whole local days (the next
90 for the forecast; snapshots take no period) and the same with `team_id` of the busiest rep's team.
One API process as bench/scale_reads.py runs it (`crm serve`, jobs queued to Redis, no worker),
requests over HTTP on loopback, so each time includes parsing, the service layer's queries and the
JSON answer; 3 warm-up calls, then `--runs` timed ones. The hand-written SQL was written from the
definitions, not from the services' statements, and runs `--runs` times on a plain asyncpg
connection without a statement cache (always a custom plan); a KPI answered by several queries
(the daily brief) is timed as their sum. The figures are compared (amounts exactly, counts exactly,
measures to the API's rounding): a difference is reported as `same: false` with the first ones.

The PEI needs required actions: the bench sets `{"activities": {"call": 20, "visit": 3},
"action_pack_tasks": true}` with PATCH /organization before measuring.

Run: .venv/bin/python -m bench.kpi_reads --database crm_kpi_100k [--runs 20] [--only funnel]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from bench.common import ADMIN_URL, asyncpg_dsn, crm_serving
from bench.scale_data import PASSWORD, USERNAME_PREFIX

PORT = 8132
WINDOW_DAYS = 90
REDIS_URL = os.environ.get("BENCH_SCALE_REDIS_URL", "redis://127.0.0.1:6379/13")
PEI_SETTINGS = {"activities": {"call": 20, "visit": 3}, "action_pack_tasks": True}

# Named parameters of the hand-written queries: :org, :start, :end, :now, :team, :tz.
# Each `{team}` is "" organization-wide, else the owner column's membership of :team.
_IN_TEAM = " AND {owner} IN (SELECT user_id FROM team_member WHERE team_id = :team)"


@dataclass
class Case:
    kpi: str
    sql: list[str]  # the hand-written queries; rows from all of them, in order, are compared
    figures: Callable[[dict[str, Any]], list[tuple[Any, ...]]]  # the API answer as those rows
    owners: tuple[str, ...] = ()  # the owner column each `{team}` slot filters
    snapshot: bool = False
    ahead: bool = False


def _rows(*names: str, by_key: bool = False) -> Callable[[dict[str, Any]], list[tuple[Any, ...]]]:
    """The API rows as tuples of `names`, a dimension ({id, name}) by its id; `by_key` sorts them
    (the hand-written query orders by ids where the API orders by names)."""

    def pick(body: dict[str, Any]) -> list[tuple[Any, ...]]:
        rows = [
            tuple(v["id"] if isinstance(v, dict) else v for v in (row.get(n) for n in names))
            for row in body["rows"]
        ]
        return sorted(rows) if by_key else rows

    return pick


REP_PERFORMANCE = """
SELECT count(*) FILTER (WHERE status = 'won') AS won_count,
       count(*) FILTER (WHERE status = 'lost') AS lost_count,
       count(*) AS closed_count,
       round(count(*) FILTER (WHERE status = 'won')::numeric / nullif(count(*), 0), 4) AS win_rate,
       coalesce(sum(amount) FILTER (WHERE status = 'won'), 0) AS won_amount,
       count(DISTINCT owner_id) AS active_reps,
       round(coalesce(sum(amount) FILTER (WHERE status = 'won'), 0) / nullif(count(DISTINCT owner_id), 0), 2)
           AS output_per_rep
FROM opportunity o
WHERE organization_id = :org AND status IN ('won', 'lost') AND closed_at >= :start AND closed_at < :end {team}
"""

SALES_CYCLE = """
WITH cycle AS (
    SELECT extract(epoch FROM o.closed_at - min(s.entered_at)) / 86400 AS days
    FROM opportunity o JOIN stage_stay s ON s.organization_id = :org AND s.opportunity_id = o.id
    WHERE o.organization_id = :org AND o.status = 'won' AND o.closed_at >= :start AND o.closed_at < :end {team}
    GROUP BY o.id, o.closed_at
)
SELECT count(*), round(avg(days), 2), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY days)::numeric, 2),
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY days)::numeric, 2)
FROM cycle
"""

FUNNEL = """
SELECT st.id, st.position, count(DISTINCT s.opportunity_id) AS entered,
       count(DISTINCT s.opportunity_id) FILTER (WHERE EXISTS (
           SELECT 1 FROM stage_stay n JOIN pipeline_stage ns ON ns.id = n.stage_id
           WHERE n.organization_id = :org AND n.opportunity_id = s.opportunity_id
             AND n.entered_at > s.entered_at
             AND ns.pipeline_id = st.pipeline_id AND ns.position > st.position AND ns.kind <> 'lost'
       )) AS converted_to_next
FROM stage_stay s JOIN pipeline_stage st ON st.id = s.stage_id JOIN opportunity o ON o.id = s.opportunity_id
WHERE s.organization_id = :org AND s.entered_at >= :start AND s.entered_at < :end AND st.kind <> 'lost' {team}
GROUP BY st.pipeline_id, st.position, st.id
ORDER BY st.pipeline_id, st.position
"""

STAGE_DWELL = """
SELECT st.id, st.position, count(*),
       round(avg(s.dwell_seconds / 3600.0), 2),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY s.dwell_seconds / 3600.0)::numeric, 2),
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY s.dwell_seconds / 3600.0)::numeric, 2)
FROM stage_stay s JOIN pipeline_stage st ON st.id = s.stage_id JOIN opportunity o ON o.id = s.opportunity_id
WHERE s.organization_id = :org AND s.left_at >= :start AND s.left_at < :end AND st.kind = 'open' {team}
GROUP BY st.pipeline_id, st.position, st.id
ORDER BY st.pipeline_id, st.position
"""

PIPELINE = """
SELECT st.id, st.position, count(*), coalesce(sum(o.amount), 0),
       round(coalesce(sum(o.amount * st.probability / 100), 0), 2),
       round(avg(extract(epoch FROM :now - (SELECT min(entered_at) FROM stage_stay
                                         WHERE organization_id = :org AND opportunity_id = o.id))
                 / 86400)::numeric, 2)
FROM opportunity o JOIN pipeline_stage st ON st.id = o.stage_id
WHERE o.organization_id = :org AND o.status = 'open' {team}
GROUP BY st.pipeline_id, st.position, st.id
ORDER BY st.pipeline_id, st.position
"""

FORECAST = """
SELECT to_char(o.expected_close_date, 'YYYY-MM-01'), count(*), coalesce(sum(o.amount), 0),
       round(coalesce(sum(o.amount * st.probability / 100), 0), 2)
FROM opportunity o JOIN pipeline_stage st ON st.id = o.stage_id
WHERE o.organization_id = :org AND o.status = 'open'
  AND o.expected_close_date >= (:start AT TIME ZONE :tz)::date AND o.expected_close_date < (:end AT TIME ZONE :tz)::date
  {team}
GROUP BY 1 ORDER BY 1
"""


def _received_leads(timer_kind: str) -> str:
    """Leads received in the period: responses, 24-hour reach, effective, and the SLA timers of a kind."""
    return f"""
WITH received AS (
    SELECT l.id, l.last_effective_follow_up_at,
           extract(epoch FROM l.first_response_at - l.created_at) AS response_seconds
    FROM lead l
    WHERE l.organization_id = :org AND l.created_at >= :start AND l.created_at < :end {{team}}
), timed AS (
    SELECT subject_id AS lead_id,
           bool_or(state = 'met' AND stopped_at <= due_at) AS met_in_time,
           bool_or(state IN ('met', 'breached', 'escalated')) AS decided
    FROM sla_timer
    WHERE organization_id = :org AND subject_type = 'lead' AND kind = '{timer_kind}'
    GROUP BY subject_id
)
SELECT count(*) AS received, count(r.response_seconds) AS responded,
       count(r.last_effective_follow_up_at) AS effective,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY r.response_seconds) / 60 AS median_minutes,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY r.response_seconds) / 60 AS p90_minutes,
       count(*) FILTER (WHERE r.response_seconds <= 86400) AS reached_24h,
       count(*) FILTER (WHERE t.met_in_time) AS sla_met,
       count(*) FILTER (WHERE t.decided) AS sla_decided
FROM received r LEFT JOIN timed t ON t.lead_id = r.id
"""


LEAD_RESPONSE = f"""
SELECT received, responded, round(median_minutes::numeric, 1), round(p90_minutes::numeric, 1), reached_24h,
       round(reached_24h::numeric / nullif(received, 0), 4), sla_met, sla_decided,
       round(sla_met::numeric / nullif(sla_decided, 0), 4)
FROM ({_received_leads("first_response")}) figures
"""

HANDOVER = f"""
SELECT received, responded, effective, reached_24h, sla_met, sla_decided, round(median_minutes::numeric / 60, 2),
       round(sla_met::numeric / nullif(sla_decided, 0), 4), round(effective::numeric / nullif(received, 0), 4),
       round(reached_24h::numeric / nullif(received, 0), 4),
       -- Collaboration score: a rate with nothing to count leaves out its weight.
       round(100 * (coalesce(0.4 * sla_met::numeric / nullif(sla_decided, 0), 0)
                    + coalesce(0.3 * effective::numeric / nullif(received, 0), 0)
                    + coalesce(0.3 * reached_24h::numeric / nullif(received, 0), 0))
             / nullif(CASE WHEN sla_decided > 0 THEN 0.4 ELSE 0 END + CASE WHEN received > 0 THEN 0.6 ELSE 0 END, 0),
             1)
FROM ({_received_leads("handover_response")}) figures
"""

LEAD_UTILIZATION = """
SELECT count(*), count(last_effective_follow_up_at),
       round(count(last_effective_follow_up_at)::numeric / nullif(count(*), 0), 4),
       count(*) FILTER (WHERE status = 'converted')
FROM lead l
WHERE organization_id = :org AND created_at >= :start AND created_at < :end {team}
"""

# Worked leads and owned customers, and since when each waits: its last follow-up, else since it
# came to its owner (docs/kpis.md#follow-up).
_WAITING = """
WITH waiting AS (
    SELECT 'lead' AS kind, l.id, l.owner_id, coalesce(l.last_follow_up_at, l.assigned_at, l.created_at) AS since
    FROM lead l
    WHERE l.organization_id = :org AND l.owner_id IS NOT NULL
      AND l.status NOT IN ('pooled', 'converted', 'disqualified') {team}
    UNION ALL
    SELECT 'customer', c.id, c.owner_id, coalesce(c.last_follow_up_at, c.created_at)
    FROM customer c WHERE c.organization_id = :org AND c.owner_id IS NOT NULL {team}
)
"""

FOLLOW_UP = (
    _WAITING
    + """
SELECT count(*) FILTER (WHERE kind = 'lead'),
       count(*) FILTER (WHERE kind = 'lead' AND since >= :now - interval '7 days'),
       count(*) FILTER (WHERE kind = 'customer'),
       count(*) FILTER (WHERE kind = 'customer' AND since >= :now - interval '7 days'),
       round(count(*) FILTER (WHERE since >= :now - interval '7 days')::numeric / nullif(count(*), 0), 4)
FROM waiting
"""
)

STALE_TOTALS = (
    _WAITING
    + """
SELECT count(*) FILTER (WHERE kind = 'lead'), count(*) FILTER (WHERE kind = 'customer')
FROM waiting WHERE since < :now - interval '7 days'
"""
)

STALE_PAGE = (
    _WAITING
    + """
SELECT kind, id::text FROM waiting WHERE since < :now - interval '7 days' ORDER BY since, id LIMIT 50
"""
)

CONTACT_HEATMAP = """
SELECT extract(isodow FROM a.occurred_at AT TIME ZONE :tz)::int AS weekday,
       extract(hour FROM a.occurred_at AT TIME ZONE :tz)::int AS hour,
       count(*), count(*) FILTER (WHERE a.call_outcome = 'connected')
FROM activity a
WHERE a.organization_id = :org AND a.type = 'call' AND a.occurred_at >= :start AND a.occurred_at < :end {team}
GROUP BY 1, 2 ORDER BY 1, 2
"""

TIME_TO_FIRST_DEAL = """
SELECT u.id::text, (SELECT min(closed_at) FROM opportunity
                 WHERE organization_id = :org AND owner_id = u.id AND status = 'won')
FROM "user" u
WHERE u.organization_id = :org AND u.role = 'rep' AND u.created_at >= :start AND u.created_at < :end {team}
ORDER BY u.created_at, u.id
"""

# Weeks (Mondays, local) that begin in the period, each rep x week, and per required action the
# count done; a task due in the week is done when completed by the end of that week.
PEI = """
WITH week AS (
    SELECT monday, (monday AT TIME ZONE :tz) AS starts, ((monday + interval '7 days') AT TIME ZONE :tz) AS ends
    FROM generate_series(date_trunc('week', :start AT TIME ZONE :tz),
                         :end AT TIME ZONE :tz, interval '1 week') g(monday)
    WHERE (monday AT TIME ZONE :tz) >= :start AND (monday AT TIME ZONE :tz) < :end
), rep AS (
    SELECT u.id, u.display_name FROM "user" u
    WHERE u.organization_id = :org AND u.role = 'rep' AND u.is_active {team}
), done AS (
    SELECT rep.id AS rep_id, week.monday,
           (SELECT count(*) FROM activity a WHERE a.organization_id = :org AND a.owner_id = rep.id
               AND a.type = 'call' AND a.occurred_at >= week.starts AND a.occurred_at < week.ends) AS calls,
           (SELECT count(*) FROM activity a WHERE a.organization_id = :org AND a.owner_id = rep.id
               AND a.type = 'visit' AND a.occurred_at >= week.starts AND a.occurred_at < week.ends) AS visits,
           (SELECT count(*) FROM task t WHERE t.organization_id = :org AND t.assignee_id = rep.id
               AND t.stage_id IS NOT NULL AND t.status <> 'cancelled'
               AND t.due_at >= week.starts AND t.due_at < week.ends) AS tasks_due,
           (SELECT count(*) FROM task t WHERE t.organization_id = :org AND t.assignee_id = rep.id
               AND t.stage_id IS NOT NULL AND t.status = 'done' AND t.completed_at < week.ends
               AND t.due_at >= week.starts AND t.due_at < week.ends) AS tasks_done
    FROM rep CROSS JOIN week
)
SELECT rep_id::text, to_char(monday, 'YYYY-MM-DD'), 20 + 3 + tasks_due AS required,
       least(calls, 20) + least(visits, 3) + tasks_done AS done
FROM done ORDER BY 1, 2
"""

# The status board (docs/sla.md#status-board): open leads, open deals and followed customers, each
# coloured by how late its plan (earliest open task or live SLA timer due) runs now.
STATUS_BOARD = """
WITH plan AS (
    SELECT subject_id, min(due_at) AS due_at FROM (
        SELECT coalesce(opportunity_id, customer_id) AS subject_id, due_at FROM task
        WHERE organization_id = :org AND status = 'open'
        UNION ALL
        SELECT subject_id, due_at FROM sla_timer
        WHERE organization_id = :org AND state IN ('running', 'warned', 'breached', 'escalated')
    ) p GROUP BY subject_id
), board AS (
    SELECT l.owner_id, p.due_at FROM lead l LEFT JOIN plan p ON p.subject_id = l.id
    WHERE l.organization_id = :org AND l.status IN ('new', 'assigned', 'contacted', 'qualified') {team}
    UNION ALL
    SELECT o.owner_id, p.due_at FROM opportunity o LEFT JOIN plan p ON p.subject_id = o.id
    WHERE o.organization_id = :org AND o.status = 'open' {team}
    UNION ALL
    SELECT c.owner_id, p.due_at FROM customer c JOIN plan p ON p.subject_id = c.id
    WHERE c.organization_id = :org {team}
), rated AS (
    SELECT owner_id, CASE WHEN due_at IS NULL OR :now - due_at < interval '24 hours' THEN 'green'
                          WHEN :now - due_at <= interval '72 hours' THEN 'yellow' ELSE 'red' END AS colour
    FROM board
)
SELECT owner_id::text, count(*) FILTER (WHERE colour = 'green'), count(*) FILTER (WHERE colour = 'yellow'),
       count(*) FILTER (WHERE colour = 'red'), count(*)
FROM rated GROUP BY owner_id
"""

BRIEF_NEW_LEADS = """
SELECT count(*) FROM lead l
WHERE l.organization_id = :org
  AND l.created_at >= (date_trunc('day', :now AT TIME ZONE :tz) - interval '1 day') AT TIME ZONE :tz
  AND l.created_at < date_trunc('day', :now AT TIME ZONE :tz) AT TIME ZONE :tz {team}
"""

BRIEF_STALE = (
    _WAITING
    + """
SELECT owner_id::text, count(*) FILTER (WHERE kind = 'lead'), count(*) FILTER (WHERE kind = 'customer')
FROM waiting WHERE since < :now - interval '7 days' GROUP BY owner_id
"""
)

BRIEF_BREACHES = """
SELECT count(*) FROM sla_timer t
WHERE t.organization_id = :org
  AND t.due_at >= date_trunc('day', :now AT TIME ZONE :tz) AT TIME ZONE :tz AND t.due_at < :now
  AND (t.state IN ('breached', 'escalated') OR (t.state = 'met' AND t.stopped_at > t.due_at)) {team}
"""

BRIEF_RED = f"SELECT count(*) FILTER (WHERE colour = 'red') FROM ({STATUS_BOARD.split('SELECT owner_id::text')[0]} SELECT * FROM rated) r"

BRIEF_TREND = """
WITH week AS (
    SELECT to_char(monday, 'YYYY-MM-DD') AS id, monday AT TIME ZONE :tz AS starts,
           (monday + interval '7 days') AT TIME ZONE :tz AS ends
    FROM generate_series(date_trunc('week', :now AT TIME ZONE :tz) - interval '4 weeks',
                         date_trunc('week', :now AT TIME ZONE :tz) - interval '1 week', interval '1 week') g(monday)
)
SELECT week.id,
       (SELECT count(*) FROM lead l WHERE l.organization_id = :org AND l.created_at >= week.starts
           AND l.created_at < week.ends {team}),
       (SELECT count(*) FROM lead l WHERE l.organization_id = :org AND l.created_at >= week.starts
           AND l.created_at < week.ends AND l.status = 'converted' {team}),
       (SELECT count(*) FROM opportunity o WHERE o.organization_id = :org AND o.status = 'won'
           AND o.closed_at >= week.starts AND o.closed_at < week.ends {team}),
       (SELECT count(*) FROM opportunity o WHERE o.organization_id = :org AND o.status IN ('won', 'lost')
           AND o.closed_at >= week.starts AND o.closed_at < week.ends {team})
FROM week ORDER BY week.id
"""


def _stale_figures(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(body["stale_leads"], body["stale_customers"])] + [
        (row["subject_type"], row["subject_id"]) for row in body["rows"]
    ]


def _brief_figures(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return (
        [(body["new_leads_yesterday"]["count"],)]
        + sorted(
            (row["user"]["id"] if row["user"] else None, row["stale_leads"], row["stale_customers"])
            for row in body["rows"]
        )
        + [(body["sla_breaches_today"]["count"],), (body["red_items"]["count"],)]
        + [
            (w["week"]["id"], w["leads_received"], w["leads_converted"], w["deals_won"], w["deals_closed"])
            for w in body["conversion_trend"]
        ]
    )


def _board_figures(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            (
                row["user"]["id"] if row["user"] else None,
                row["green"],
                row["yellow"],
                row["red"],
                row["total"],
            )
            for row in body["rows"]
        ),
        key=str,
    )


def _first_deal_figures(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(row["user"]["id"], row["first_won_at"]) for row in body["rows"]]


CASES = [
    Case(
        "rep-performance",
        [REP_PERFORMANCE],
        _rows(
            "won_count",
            "lost_count",
            "closed_count",
            "win_rate",
            "won_amount",
            "active_reps",
            "output_per_rep",
        ),
        ("o.owner_id",),
    ),
    Case(
        "sales-cycle",
        [SALES_CYCLE],
        _rows("won_count", "avg_days", "median_days", "p90_days"),
        ("o.owner_id",),
    ),
    Case("funnel", [FUNNEL], _rows("stage", "position", "entered", "converted_to_next"), ("o.owner_id",)),
    Case(
        "stage-dwell",
        [STAGE_DWELL],
        _rows("stage", "position", "left_count", "avg_hours", "median_hours", "p90_hours"),
        ("o.owner_id",),
    ),
    Case(
        "pipeline",
        [PIPELINE],
        _rows("stage", "position", "open_count", "amount", "weighted_amount", "avg_age_days"),
        ("o.owner_id",),
        snapshot=True,
    ),
    Case(
        "forecast",
        [FORECAST],
        _rows("close_month", "open_count", "amount", "weighted_amount"),
        ("o.owner_id",),
        ahead=True,
    ),
    Case(
        "lead-response",
        [LEAD_RESPONSE],
        _rows(
            "received",
            "responded",
            "median_minutes",
            "p90_minutes",
            "reached_24h",
            "reach_24h_rate",
            "sla_met",
            "sla_decided",
            "sla_met_rate",
        ),
        ("l.owner_id",),
    ),
    Case(
        "lead-utilization",
        [LEAD_UTILIZATION],
        _rows("received", "effective", "utilization_rate", "converted"),
        ("l.owner_id",),
    ),
    Case(
        "handover",
        [HANDOVER],
        _rows(
            "received",
            "responded",
            "effective",
            "reached_24h",
            "handoff_sla_met",
            "handoff_sla_decided",
            "median_hours_to_follow_up",
            "handoff_sla_met_rate",
            "effective_rate",
            "reach_24h_rate",
            "collaboration_score",
        ),
        ("l.owner_id",),
    ),
    Case(
        "follow-up",
        [FOLLOW_UP],
        _rows("leads_active", "leads_followed", "customers_active", "customers_followed", "follow_up_rate"),
        ("l.owner_id", "c.owner_id"),
        snapshot=True,
    ),
    Case(
        "stale",
        [STALE_TOTALS, STALE_PAGE],
        _stale_figures,
        ("l.owner_id", "c.owner_id") * 2,
        snapshot=True,
    ),
    Case(
        "contact-heatmap", [CONTACT_HEATMAP], _rows("weekday", "hour", "calls", "connected"), ("a.owner_id",)
    ),
    Case("time-to-first-deal", [TIME_TO_FIRST_DEAL], _first_deal_figures, ("u.id",)),
    Case("pei", [PEI], _rows("user", "week", "required", "done", by_key=True), ("u.id",)),
    Case(
        "daily-brief",
        [BRIEF_NEW_LEADS, BRIEF_STALE, BRIEF_BREACHES, BRIEF_RED, BRIEF_TREND],
        _brief_figures,
        # Per query, in the order of their `{team}` slots.
        (
            "l.owner_id",
            "l.owner_id",
            "c.owner_id",
            "t.owner_id",
            "l.owner_id",
            "o.owner_id",
            "c.owner_id",
            "l.owner_id",
            "l.owner_id",
            "o.owner_id",
            "o.owner_id",
        ),
        snapshot=True,
    ),
    Case(
        "status-board",
        [STATUS_BOARD],
        _board_figures,
        ("l.owner_id", "o.owner_id", "c.owner_id"),
        snapshot=True,
    ),
]


_TYPES = {
    "org": "uuid",
    "team": "uuid",
    "tz": "text",
    "start": "timestamptz",
    "end": "timestamptz",
    "now": "timestamptz",
}


def _bind(sql: str) -> tuple[str, list[str]]:
    """`:name` parameters as asyncpg's $n, numbered by first use; the names in that order."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}::{_TYPES[name]}"

    text = re.sub(r"(?<![:\w]):([a-z]+)\b", number, sql)
    return text, order


def _with_team(sqls: list[str], owners: tuple[str, ...], team: bool) -> list[str]:
    """Each `{team}` slot, in order, as "" or the membership of its owner column."""
    slots = iter(owners)
    out = []
    for sql in sqls:
        parts = sql.split("{team}")
        text = parts[0]
        for part in parts[1:]:
            owner = next(slots)
            text += (_IN_TEAM.format(owner=owner) if team else "") + part
        out.append(text)
    return out


def _same(api: Any, sql: Any) -> bool:
    if api is None or sql is None:
        return api is None and sql is None
    if isinstance(sql, datetime):
        return isinstance(api, str) and datetime.fromisoformat(api.replace("Z", "+00:00")) == sql
    if isinstance(api, str) and isinstance(sql, Decimal) and re.fullmatch(r"-?\d+\.\d\d", api):
        return Decimal(api) == sql.quantize(Decimal("0.01"))
    if isinstance(api, (int, float)) and not isinstance(api, bool):
        tolerance = 0 if isinstance(api, int) and isinstance(sql, int) else 0.0101
        return abs(float(api) - float(sql)) <= tolerance
    return str(api) == str(sql)


def _compare(api_rows: list[tuple[Any, ...]], sql_rows: list[tuple[Any, ...]]) -> list[str]:
    differences = []
    if len(api_rows) != len(sql_rows):
        differences.append(f"{len(api_rows)} rows from the API, {len(sql_rows)} from SQL")
    for api, sql in zip(api_rows, sql_rows, strict=False):
        if len(api) != len(sql) or not all(_same(a, s) for a, s in zip(api, sql, strict=True)):
            differences.append(f"api {api} != sql {tuple(str(v) for v in sql)}")
    return differences[:5]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


async def _measure(
    client: httpx.AsyncClient,
    connection: asyncpg.Connection,
    case: Case,
    window: str,
    params: dict[str, Any],
    values: dict[str, Any],
    runs: int,
) -> dict[str, Any]:
    url = f"/api/v1/kpis/{case.kpi}"
    api: list[float] = []
    body: Any = None
    for attempt in range(runs + 3):
        started = time.perf_counter()
        response = await client.get(url, params=params)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{case.kpi} ({window}): {response.status_code} {response.text[:300]}")
        body = response.json()
        if attempt >= 3:
            api.append(elapsed)
    statements = [_bind(sql) for sql in _with_team(case.sql, case.owners, team="team" in values)]
    sql_times: list[float] = []
    # Compared: the first run's rows, read at the instant the API's last answer was computed (its
    # `generated_at`): a snapshot's "now" moves on during the runs, and records cross the 7-day and
    # 24-hour lines as it does. The timed runs after it read at their own instant.
    answered_at = datetime.fromisoformat(body["generated_at"])
    rows: list[tuple[Any, ...]] = []
    for run in range(runs):
        values["now"] = answered_at if run == 0 else datetime.now(UTC)
        started = time.perf_counter()
        found: list[tuple[Any, ...]] = []
        for text, names in statements:
            bound = [values[name] for name in names]
            found += [tuple(r.values()) for r in await connection.fetch(text, *bound)]
        sql_times.append((time.perf_counter() - started) * 1000)
        if run == 0:
            rows = found
    api_rows = case.figures(body)
    if case.kpi == "status-board":
        rows = sorted(rows, key=str)
    if case.kpi == "daily-brief":
        first, *rest = rows
        stale = [r for r in rest if len(r) == 3]
        rows = [first, *sorted(stale, key=lambda r: (r[0] is None, r))] + [r for r in rest if len(r) != 3]
        api_rows = [
            api_rows[0],
            *sorted(api_rows[1 : 1 + len(stale)], key=lambda r: (r[0] is None, r)),
            *api_rows[1 + len(stale) :],
        ]
    differences = _compare(api_rows, rows)
    api_p50, api_p95 = _percentiles(api)
    sql_p50, sql_p95 = _percentiles(sql_times)
    result: dict[str, Any] = {
        "kpi": case.kpi,
        "window": window,
        "api_p50_ms": round(api_p50, 1),
        "api_p95_ms": round(api_p95, 1),
        "sql_p50_ms": round(sql_p50, 1),
        "sql_p95_ms": round(sql_p95, 1),
        "ratio_p50": round(api_p50 / sql_p50, 2) if sql_p50 else None,
        "rows": len(api_rows),
        "same": not differences,
    }
    if differences:
        result["differences"] = differences
    return result


async def _run(dsn: str, runs: int, only: str | None, port: int) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(dsn, statement_cache_size=0)
    org = await connection.fetchval("SELECT id FROM organization LIMIT 1")
    tz_name = await connection.fetchval("SELECT timezone FROM organization WHERE id = $1", org)
    team = await connection.fetchval(
        'SELECT m.team_id FROM team_member m JOIN "user" u ON u.id = m.user_id WHERE u.username = $1',
        USERNAME_PREFIX + "rep1",
    )
    tz = ZoneInfo(tz_name)
    today = datetime.now(tz).date()
    past = (today - timedelta(days=WINDOW_DAYS), today - timedelta(days=1))
    ahead = (today, today + timedelta(days=WINDOW_DAYS))
    results = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        await _sign_in(client, "admin")
        patched = await client.patch("/api/v1/organization", json={"settings": {"pei": PEI_SETTINGS}})
        patched.raise_for_status()
        await _sign_in(client, "director")
        for case in CASES:
            if only is not None and only not in case.kpi:
                continue
            for window, team_id in (("organization", None), ("one team", team)):
                params: dict[str, Any] = {}
                values: dict[str, Any] = {"org": org, "tz": tz_name}
                if not case.snapshot:
                    first, last = ahead if case.ahead else past
                    params.update({"from": first.isoformat(), "to": last.isoformat()})
                    values["start"] = _local_midnight(first, tz)
                    values["end"] = _local_midnight(last + timedelta(days=1), tz)
                if team_id is not None:
                    params["team_id"] = str(team_id)
                    values["team"] = team_id
                result = await _measure(client, connection, case, window, params, values, runs)
                print(json.dumps(result, ensure_ascii=False), flush=True)
                results.append(result)
    await connection.close()
    return results


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


async def _sign_in(client: httpx.AsyncClient, name: str) -> None:
    response = await client.post(
        "/api/v1/auth/token", data={"username": USERNAME_PREFIX + name, "password": PASSWORD}
    )
    response.raise_for_status()
    client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="crm_scale_kpi")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", help="run the KPIs whose name contains this")
    parser.add_argument("--out", help="also write the results to this JSON file")
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args()
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{args.database}"
    with crm_serving(url, args.port, CRM_REDIS_URL=REDIS_URL):
        results = asyncio.run(_run(asyncpg_dsn(url), args.runs, args.only, args.port))
    if args.out:
        with open(args.out, "w") as out:
            json.dump(
                {"database": args.database, "at": datetime.now(UTC).isoformat(), "results": results}, out
            )


if __name__ == "__main__":
    main()
