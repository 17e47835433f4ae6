"""The SLA sweep over a million live timers of which some are due, on PostgreSQL.

Run: .venv/bin/python -m bench.sla_sweep --timers 1000000 --due 50000 [--workers 2]

Set-up (not timed): a fresh database with the demo distributor (8 reps in two teams with
supervisors, a director, the 30-minute first-response policy with a director step), one lead per timer and the
timers themselves, loaded with COPY and vacuumed. The due timers are a mix: a third need their warning, a third
their breach, a third (already breached) their escalation. Timed: `fire_sla_timers` — the arq job
the worker runs — from start until nothing is due, with its outbox events written and the next
minute's jobs enqueued on Redis; `--workers N` runs N of them at once, as N workers would.
Checked afterwards: one sla_event and one outbox event per transition, none twice, none left due.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import resource
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from app.services.demo import DEMO_SLUG
from bench.common import REDIS_URL, asyncpg_dsn, bench_env, demo_database

DATABASE = "crm_bench_sla"
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # a Monday, 14:00 in Shanghai


def _schedule(n: int, due: int, rng: random.Random) -> tuple[str, datetime, datetime, datetime]:
    """State and instants of timer `n`: the first `due` have exactly one transition due at NOW — a
    warning, a breach or an escalation in turn — the rest are running and due within three days."""
    if n >= due:
        warn_at = NOW + timedelta(minutes=rng.randint(2, 60 * 24 * 3))
        return "running", warn_at, warn_at + timedelta(minutes=6), warn_at + timedelta(minutes=126)
    fire_at = NOW - timedelta(seconds=rng.randint(1, 600))
    match n % 3:
        case 0:
            return "running", fire_at, fire_at + timedelta(minutes=30), fire_at + timedelta(minutes=150)
        case 1:
            return "warned", fire_at - timedelta(minutes=6), fire_at, fire_at + timedelta(minutes=120)
        case _:
            return "breached", fire_at - timedelta(minutes=126), fire_at - timedelta(minutes=120), fire_at


async def _load(dsn: str, timers: int, due: int) -> dict[str, object]:
    connection = await asyncpg.connect(dsn)
    try:
        organization_id = await connection.fetchval("SELECT id FROM organization WHERE slug = $1", DEMO_SLUG)
        policy_id = await connection.fetchval(
            "SELECT id FROM sla_policy WHERE organization_id = $1", organization_id
        )
        reps = await connection.fetch(
            """SELECT id FROM "user" WHERE organization_id = $1 AND role = 'rep'""", organization_id
        )
        rep_ids = [r["id"] for r in reps]
        rng = random.Random(7)
        lead_rows = []
        timer_rows = []
        for n in range(timers):
            lead_id = uuid.uuid4()
            owner = rep_ids[n % len(rep_ids)]
            started = NOW - timedelta(minutes=rng.randint(40, 600))
            lead = (lead_id, organization_id, f"线索{n}", "web_form", "assigned", owner)
            lead_rows.append((*lead, "[]", "[]", "{}", started, started, 1))
            state, warn_at, due_at, escalate_at = _schedule(n, due, rng)
            next_fire = {"running": warn_at, "warned": due_at, "breached": escalate_at}[state]
            timer_rows.append(
                (
                    uuid.uuid4(),
                    organization_id,
                    policy_id,
                    "first_response",
                    "lead",
                    lead_id,
                    owner,
                    state,
                    0,
                    started,
                    warn_at,
                    due_at,
                    json.dumps([escalate_at.isoformat()]),
                    next_fire,
                    started,
                    started,
                    1,
                )
            )
        await connection.copy_records_to_table(
            "lead",
            records=lead_rows,
            columns=[
                "id",
                "organization_id",
                "name",
                "source",
                "status",
                "owner_id",
                "possible_duplicates",
                "tags",
                "custom_fields",
                "created_at",
                "updated_at",
                "version",
            ],
        )
        await connection.copy_records_to_table(
            "sla_timer",
            records=timer_rows,
            columns=[
                "id",
                "organization_id",
                "policy_id",
                "kind",
                "subject_type",
                "subject_id",
                "owner_id",
                "state",
                "level",
                "started_at",
                "warn_at",
                "due_at",
                "escalate_at",
                "next_fire_at",
                "created_at",
                "updated_at",
                "version",
            ],
        )
        # As autovacuum leaves tables in service; left to it, its pass over two million fresh rows
        # lands at random inside the timed run.
        await connection.execute("VACUUM (ANALYZE)")
        return {"organization_id": str(organization_id), "reps": len(rep_ids)}
    finally:
        await connection.close()


def _sweep(database_url: str, started: float) -> dict[str, float]:
    """One worker process: runs the job once, as arq would, with the bench's clock."""
    import os

    os.environ.update(bench_env(database_url))
    from app.db import create_engine, create_sessionmaker
    from app.workers.jobs import fire_sla_timers
    from app.workers.queue import ArqQueue

    async def run() -> dict[str, float]:
        engine = create_engine(database_url, pool_size=2)
        queue = await ArqQueue.connect(REDIS_URL)
        try:
            await asyncio.sleep(max(0.0, started - time.time()))
            begin = time.perf_counter()
            fired = await fire_sla_timers(
                {"sessionmaker": create_sessionmaker(engine), "queue": queue, "clock": lambda: NOW}
            )
            return {"transitions": fired, "seconds": time.perf_counter() - begin}
        finally:
            await queue.close()
            await engine.dispose()

    return asyncio.run(run())


async def _check(dsn: str) -> dict[str, object]:
    connection = await asyncpg.connect(dsn)
    try:
        return {
            "sla_events": await connection.fetchval("SELECT count(*) FROM sla_event"),
            "sla_events_distinct": await connection.fetchval(
                "SELECT count(DISTINCT (timer_id, state, level)) FROM sla_event"
            ),
            "outbox_events": await connection.fetchval(
                "SELECT count(*) FROM outbox_event WHERE topic LIKE 'sla.%'"
            ),
            "still_due": await connection.fetchval(
                """SELECT count(*) FROM sla_timer WHERE next_fire_at <= $1
                   AND state IN ('running', 'warned', 'breached', 'escalated')""",
                NOW,
            ),
            "by_state": dict(
                await connection.fetch("SELECT state, count(*) FROM sla_timer GROUP BY state ORDER BY state")
            ),
        }
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timers", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    url = demo_database(DATABASE)
    load_started = time.perf_counter()
    loaded = asyncio.run(_load(asyncpg_dsn(url), args.timers, args.due))
    load_seconds = time.perf_counter() - load_started

    started = time.time() + 1.0
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.workers) as pool:
        runs = pool.starmap(_sweep, [(url, started)] * args.workers)
    checked = asyncio.run(_check(asyncpg_dsn(url)))
    print(
        json.dumps(
            {
                "timers": args.timers,
                "due": args.due,
                "workers": args.workers,
                "load_seconds": round(load_seconds, 1),
                **loaded,
                "sweep_seconds": round(max(run["seconds"] for run in runs), 2),
                "transitions": sum(int(run["transitions"]) for run in runs),
                "per_worker": runs,
                "peak_rss_mb_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
                **checked,
            },
            indent=2,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
