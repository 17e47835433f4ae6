"""Read latency of every list, search, detail, timeline and the status board on a database made by
bench/scale_data.py, each next to a hand-written query for the same rows on the same database.

One API process (jobs queued to Redis, no worker: nothing runs in the background), sequential
requests as the director and as the busiest rep; per case 3 warm-up calls, then `--runs` timed ones
(more than PostgreSQL's five custom plans before it may switch a prepared statement to a generic
plan). The hand-written query runs `--runs` times on a plain asyncpg connection without a statement
cache (so always a custom plan). The ids each returns are compared: a difference is reported as
`same_ids: false`.

Run: .venv/bin/python -m bench.scale_reads --database crm_scale_bench [--runs 20] [--only activities]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from app.services.platform.pagination import SortOrder, decode_cursor, encode_cursor
from bench.common import ADMIN_URL, asyncpg_dsn, crm_serving
from bench.scale_data import PASSWORD, USERNAME_PREFIX

PORT = 8131
PAGE = 50
DEEP_PAGE = 500
REDIS_URL = os.environ.get("BENCH_SCALE_REDIS_URL", "redis://127.0.0.1:6379/13")

ACTIVE_TIMER = "('running', 'warned', 'breached', 'escalated')"
BOARD_LEAD = "('new', 'assigned', 'contacted', 'qualified')"


@dataclass
class Case:
    name: str
    role: str  # director | rep
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    sql: str | None = None  # $1 organization, $2 the user, then `args`
    args: tuple[Any, ...] = ()
    id_field: str = "id"


def _keyset(table: str, where: str, sort: str, descending: bool = True) -> str:
    direction = "DESC" if descending else "ASC"
    return f"SELECT id FROM {table} WHERE organization_id = $1 AND {where} ORDER BY {sort} {direction}, id {direction} LIMIT {PAGE}"


# Scalar subqueries, looked up per row: as EXISTS, PostgreSQL hashes every visible lead first.
REP_ACTIVITY = (
    "(a.owner_id = $2 OR (SELECT l.owner_id = $2 OR l.status = 'pooled' FROM lead l WHERE l.id = a.lead_id)"
    " OR (SELECT c.owner_id = $2 FROM customer c WHERE c.id = a.customer_id))"
)


def _board_sql(rep: bool) -> str:
    owner = "AND owner_id = $2" if rep else "AND $2::uuid IS NOT NULL"
    return f"""
    WITH plan AS (
        SELECT subject_type, subject_id, min(due_at) AS due_at FROM (
            SELECT CASE WHEN opportunity_id IS NOT NULL THEN 'opportunity' ELSE 'customer' END AS subject_type,
                   coalesce(opportunity_id, customer_id) AS subject_id, due_at
            FROM task WHERE organization_id = $1 AND status = 'open'
                        AND (opportunity_id IS NOT NULL OR customer_id IS NOT NULL)
            UNION ALL
            SELECT subject_type, subject_id, due_at FROM sla_timer
            WHERE organization_id = $1 AND state IN {ACTIVE_TIMER}
        ) d GROUP BY 1, 2
    )
    SELECT id FROM (
        SELECT l.id, p.due_at FROM lead l LEFT JOIN plan p ON p.subject_type = 'lead' AND p.subject_id = l.id
        WHERE l.organization_id = $1 AND l.status IN {BOARD_LEAD} {owner.replace("owner_id", "l.owner_id")}
        UNION ALL
        SELECT o.id, p.due_at FROM opportunity o
        LEFT JOIN plan p ON p.subject_type = 'opportunity' AND p.subject_id = o.id
        WHERE o.organization_id = $1 AND o.status = 'open' {owner.replace("owner_id", "o.owner_id")}
        UNION ALL
        SELECT c.id, p.due_at FROM customer c JOIN plan p ON p.subject_type = 'customer' AND p.subject_id = c.id
        WHERE c.organization_id = $1 {owner.replace("owner_id", "c.owner_id")}
    ) b ORDER BY due_at ASC NULLS LAST, id LIMIT {PAGE}
    """


async def _cases(connection: asyncpg.Connection, org: uuid.UUID, rep: uuid.UUID) -> list[Case]:
    """The cases, with the rows a deep page starts after and the records details are read for."""
    newest_first = SortOrder("created_at", descending=True)

    async def deep_cursor(table: str, where: str, sort: str, order: SortOrder, *args: Any) -> str | None:
        row = await connection.fetchrow(
            f"SELECT {sort} AS value, id FROM {table} WHERE organization_id = $1 AND {where} "
            f"ORDER BY {sort} DESC, id DESC OFFSET {(DEEP_PAGE - 1) * PAGE - 1} LIMIT 1",
            org,
            *args,
        )
        return None if row is None else encode_cursor(order, row["value"], row["id"])

    big_customer = await connection.fetchval(
        "SELECT customer_id FROM activity WHERE organization_id = $1 AND customer_id IS NOT NULL "
        "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
        org,
    )
    typical_customer = await connection.fetchval(
        "SELECT id FROM customer WHERE organization_id = $1 ORDER BY code OFFSET 1000 LIMIT 1", org
    )
    lead_id = await connection.fetchval(
        "SELECT id FROM lead WHERE organization_id = $1 AND owner_id = $2 LIMIT 1", org, rep
    )
    opportunity_id = await connection.fetchval(
        "SELECT id FROM opportunity WHERE organization_id = $1 AND owner_id = $2 LIMIT 1", org, rep
    )
    activity_id = await connection.fetchval(
        "SELECT id FROM activity WHERE organization_id = $1 AND owner_id = $2 LIMIT 1", org, rep
    )
    lead_cursor = await deep_cursor("lead", "true", "created_at", newest_first)
    customer_cursor = await deep_cursor("customer", "true", "created_at", newest_first)
    opportunity_cursor = await deep_cursor("opportunity", "true", "created_at", newest_first)
    activity_cursor = await deep_cursor(
        "activity", "true", "occurred_at", SortOrder("occurred_at", descending=True)
    )
    rep_activity_cursor = await deep_cursor(
        "activity a",
        REP_ACTIVITY.replace("$2", "$2::uuid"),
        "occurred_at",
        SortOrder("occurred_at", True),
        rep,
    )
    after = "AND (created_at, id) < ($3, $4)"
    after_occurred = "AND (occurred_at, id) < ($3, $4)"

    def cursor_args(cursor: str | None, sort: str = "created_at") -> tuple[Any, ...]:
        return () if cursor is None else decode_cursor(cursor, SortOrder(sort, descending=True))

    timeline = f"""
    SELECT id FROM (
        (SELECT id, occurred_at AS t FROM activity WHERE organization_id = $1 AND customer_id = $3
         ORDER BY occurred_at DESC, id DESC LIMIT {PAGE + 1})
        UNION
        (SELECT n.id, n.occurred_at FROM lead l CROSS JOIN LATERAL (
            SELECT a.id, a.occurred_at FROM activity a WHERE a.organization_id = $1 AND a.lead_id = l.id
            ORDER BY a.occurred_at DESC, a.id DESC LIMIT {PAGE + 1}) n
         WHERE l.organization_id = $1 AND l.customer_id = $3
         ORDER BY n.occurred_at DESC, n.id DESC LIMIT {PAGE + 1})
        UNION ALL
        (SELECT id, occurred_at FROM audit_event WHERE organization_id = $1 AND entity_type = 'customer'
            AND entity_id = $3 ORDER BY occurred_at DESC, id DESC LIMIT {PAGE + 1})
        UNION ALL
        (SELECT id, converted_at FROM lead WHERE organization_id = $1 AND customer_id = $3
            AND converted_at IS NOT NULL ORDER BY converted_at DESC, id DESC LIMIT {PAGE + 1})
    ) x WHERE $2::uuid IS NOT NULL ORDER BY t DESC, id DESC LIMIT {PAGE}
    """
    any_user = "$2::uuid IS NOT NULL"
    rep_lead = "(owner_id = $2 OR status = 'pooled')"
    cases = [
        Case("leads", "director", "/leads", sql=_keyset("lead", any_user, "created_at")),
        Case("leads", "rep", "/leads", sql=_keyset("lead", rep_lead, "created_at")),
        Case(
            "leads ?status=contacted",
            "director",
            "/leads",
            {"status": "contacted"},
            _keyset("lead", f"{any_user} AND status = 'contacted'", "created_at"),
        ),
        Case(
            "leads ?status=contacted",
            "rep",
            "/leads",
            {"status": "contacted"},
            # The pool's leads are never contacted: a hand-written query leaves them out.
            _keyset("lead", "owner_id = $2 AND status = 'contacted'", "created_at"),
        ),
        Case(
            "leads page 500",
            "director",
            "/leads",
            {"cursor": lead_cursor},
            _keyset("lead", f"{any_user} {after}", "created_at"),
            cursor_args(lead_cursor),
        ),
    ]
    for term in ("3000123", "建材公司12", "王伟"):
        pattern = f"%{term}%"
        for role, visible in (("director", any_user), ("rep", rep_lead)):
            cases.append(
                Case(
                    f"leads ?q={term}",
                    role,
                    "/leads",
                    {"q": term},
                    _keyset(
                        "lead",
                        f"{visible} AND (name ILIKE $3 OR company ILIKE $3 OR phone LIKE $3)",
                        "created_at",
                    ),
                    (pattern,),
                )
            )
    cases += [
        Case("customers", "director", "/customers", sql=_keyset("customer", any_user, "created_at")),
        Case("customers", "rep", "/customers", sql=_keyset("customer", "owner_id = $2", "created_at")),
        Case(
            "customers ?tier=A",
            "director",
            "/customers",
            {"tier": "A"},
            _keyset("customer", f"{any_user} AND tier = 'A'", "created_at"),
        ),
        Case(
            "customers page 500",
            "director",
            "/customers",
            {"cursor": customer_cursor},
            _keyset("customer", f"{any_user} {after}", "created_at"),
            cursor_args(customer_cursor),
        ),
        Case(
            "customers ?q=建材1234",
            "director",
            "/customers",
            {"q": "建材1234"},
            _keyset("customer", f"{any_user} AND (name ILIKE $3 OR code ILIKE $3)", "created_at"),
            ("%建材1234%",),
        ),
        Case(
            "customers ?q=C0123",
            "rep",
            "/customers",
            {"q": "C0123"},
            _keyset("customer", "owner_id = $2 AND (name ILIKE $3 OR code ILIKE $3)", "created_at"),
            ("%C0123%",),
        ),
        Case(
            "opportunities", "director", "/opportunities", sql=_keyset("opportunity", any_user, "created_at")
        ),
        Case(
            "opportunities",
            "rep",
            "/opportunities",
            sql=_keyset("opportunity", "owner_id = $2", "created_at"),
        ),
        Case(
            "opportunities ?status=open",
            "director",
            "/opportunities",
            {"status": "open"},
            _keyset("opportunity", f"{any_user} AND status = 'open'", "created_at"),
        ),
        Case(
            "opportunities page 500",
            "director",
            "/opportunities",
            {"cursor": opportunity_cursor},
            _keyset("opportunity", f"{any_user} {after}", "created_at"),
            cursor_args(opportunity_cursor),
        ),
        Case("activities", "director", "/activities", sql=_keyset("activity", any_user, "occurred_at")),
        Case("activities", "rep", "/activities", sql=_keyset("activity a", REP_ACTIVITY, "occurred_at")),
        Case(
            "activities ?type=visit",
            "director",
            "/activities",
            {"type": "visit"},
            _keyset("activity", f"{any_user} AND type = 'visit'", "occurred_at"),
        ),
        Case(
            "activities ?type=visit",
            "rep",
            "/activities",
            {"type": "visit"},
            _keyset("activity a", f"{REP_ACTIVITY} AND type = 'visit'", "occurred_at"),
        ),
        Case(
            "activities page 500",
            "director",
            "/activities",
            {"cursor": activity_cursor},
            _keyset("activity", f"{any_user} {after_occurred}", "occurred_at"),
            cursor_args(activity_cursor, "occurred_at"),
        ),
        Case(
            "activities page 500",
            "rep",
            "/activities",
            {"cursor": rep_activity_cursor},
            _keyset("activity a", f"{REP_ACTIVITY} {after_occurred}", "occurred_at"),
            cursor_args(rep_activity_cursor, "occurred_at"),
        ),
        Case("tasks", "director", "/tasks", sql=_keyset("task", any_user, "due_at", descending=False)),
        Case("tasks", "rep", "/tasks", sql=_keyset("task", "assignee_id = $2", "due_at", descending=False)),
        Case(
            "lead detail",
            "rep",
            f"/leads/{lead_id}",
            sql="SELECT id FROM lead WHERE organization_id = $1 AND id = $3 AND owner_id = $2",
            args=(lead_id,),
        ),
        Case(
            "customer detail",
            "director",
            f"/customers/{typical_customer}",
            sql=f"SELECT id FROM customer WHERE organization_id = $1 AND id = $3 AND {any_user}",
            args=(typical_customer,),
        ),
        Case(
            "opportunity detail",
            "rep",
            f"/opportunities/{opportunity_id}",
            sql="SELECT id FROM opportunity WHERE organization_id = $1 AND id = $3 AND owner_id = $2",
            args=(opportunity_id,),
        ),
        Case(
            "activity detail",
            "rep",
            f"/activities/{activity_id}",
            sql=f"SELECT id FROM activity a WHERE organization_id = $1 AND id = $3 AND {REP_ACTIVITY}",
            args=(activity_id,),
        ),
        Case(
            "timeline, largest customer",
            "director",
            f"/customers/{big_customer}/timeline",
            sql=timeline,
            args=(big_customer,),
        ),
        Case(
            "timeline, typical customer",
            "director",
            f"/customers/{typical_customer}/timeline",
            sql=timeline,
            args=(typical_customer,),
        ),
        Case("status board", "director", "/status-board", sql=_board_sql(rep=False), id_field="subject_id"),
        Case("status board", "rep", "/status-board", sql=_board_sql(rep=True), id_field="subject_id"),
        Case("status board summary", "director", "/status-board/summary"),
        Case("status board summary", "rep", "/status-board/summary"),
    ]
    # A small organization has no page 500.
    return [case for case in cases if case.params.get("cursor", "") is not None]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


def _ids(body: Any, id_field: str) -> list[str]:
    items = body["items"] if isinstance(body, dict) and "items" in body else [body]
    return [str(item[id_field]) for item in items]


async def _measure(
    client: httpx.AsyncClient,
    connection: asyncpg.Connection,
    case: Case,
    token: str,
    org: uuid.UUID,
    user: uuid.UUID,
    runs: int,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1{case.path}"
    api: list[float] = []
    body: Any = None
    for attempt in range(runs + 3):
        started = time.perf_counter()
        response = await client.get(url, params=case.params, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{case.name} ({case.role}): {response.status_code} {response.text[:300]}")
        body = response.json()
        if attempt >= 3:
            api.append(elapsed)
    result: dict[str, Any] = {"case": case.name, "role": case.role}
    result["api_p50_ms"], result["api_p95_ms"] = (round(v, 1) for v in _percentiles(api))
    if case.sql is None:
        return result
    sql: list[float] = []
    rows: list[Any] = []
    for _ in range(runs):
        started = time.perf_counter()
        rows = await connection.fetch(case.sql, org, user, *case.args)
        sql.append((time.perf_counter() - started) * 1000)
    result["sql_p50_ms"], result["sql_p95_ms"] = (round(v, 2) for v in _percentiles(sql))
    result["rows"] = len(rows)
    result["same_ids"] = _ids(body, case.id_field) == [str(row["id"]) for row in rows]
    return result


async def _run(dsn: str, runs: int, only: str | None, port: int) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(dsn, statement_cache_size=0)
    org = await connection.fetchval("SELECT id FROM organization LIMIT 1")
    users = {
        role: await connection.fetchval('SELECT id FROM "user" WHERE username = $1', USERNAME_PREFIX + name)
        for role, name in (("director", "director"), ("rep", "rep1"))
    }
    cases = [c for c in await _cases(connection, org, users["rep"]) if only is None or only in c.name]
    results = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        tokens = {}
        for role in users:
            response = await client.post(
                "/api/v1/auth/token",
                data={
                    "username": USERNAME_PREFIX + ("director" if role == "director" else "rep1"),
                    "password": PASSWORD,
                },
            )
            tokens[role] = response.json()["access_token"]
        for case in cases:
            result = await _measure(client, connection, case, tokens[case.role], org, users[case.role], runs)
            print(json.dumps(result, ensure_ascii=False), flush=True)
            results.append(result)
    await connection.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="crm_scale_bench")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", help="run the cases whose name contains this")
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
