"""The task reminder sweep over N tasks whose reminder is due, among many not yet due, on PostgreSQL.

Run: .venv/bin/python -m bench.task_reminders --tasks 20000 [--later 100000] [--workers 2]

Set-up (not timed): a fresh database with the demo distributor (8 reps in two teams with
supervisors, a director), one lead per task, and the tasks loaded with COPY and vacuumed: `--tasks`
open tasks whose time came — two in three just due (task.due), one in three past the hour's grace
(task.overdue, also to the reps' supervisors and the director who asked) — and `--later` open tasks
due in the next three days. Timed: `remind_tasks` — the arq job the worker runs — from start until
nothing is left to remind, with its outbox events written; `--workers N` runs N at once, as N
workers would. Checked afterwards: one outbox event per task, none twice, none left to remind.
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

DATABASE = "crm_bench_task_reminders"
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # a Monday, 14:00 in Shanghai


async def _load(dsn: str, tasks: int, later: int) -> dict[str, object]:
    connection = await asyncpg.connect(dsn)
    try:
        organization_id = await connection.fetchval("SELECT id FROM organization WHERE slug = $1", DEMO_SLUG)
        reps = await connection.fetch(
            """SELECT id FROM "user" WHERE organization_id = $1 AND role = 'rep'""", organization_id
        )
        director_id = await connection.fetchval(
            """SELECT id FROM "user" WHERE organization_id = $1 AND role = 'director'""", organization_id
        )
        rep_ids = [r["id"] for r in reps]
        rng = random.Random(7)
        lead_rows = []
        task_rows = []
        for n in range(tasks + later):
            lead_id = uuid.uuid4()
            owner = rep_ids[n % len(rep_ids)]
            created = NOW - timedelta(days=2)
            lead_rows.append(
                (
                    lead_id,
                    organization_id,
                    f"线索{n}",
                    "web_form",
                    "assigned",
                    owner,
                    "[]",
                    "[]",
                    "{}",
                    created,
                    created,
                    1,
                )
            )
            if n < tasks:
                # Two in three due within the last half hour, one in three past the hour's grace.
                late = (
                    timedelta(minutes=rng.randint(1, 30))
                    if n % 3
                    else timedelta(minutes=rng.randint(61, 600))
                )
                due_at = NOW - late
            else:
                due_at = NOW + timedelta(minutes=rng.randint(1, 60 * 24 * 3))
            task_rows.append(
                (
                    uuid.uuid4(),
                    organization_id,
                    f"回访{n}",
                    owner,
                    due_at,
                    "open",
                    lead_id,
                    director_id,
                    created,
                    created,
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
            "task",
            records=task_rows,
            columns=[
                "id",
                "organization_id",
                "title",
                "assignee_id",
                "due_at",
                "status",
                "lead_id",
                "created_by_id",
                "created_at",
                "updated_at",
                "version",
            ],
        )
        await connection.execute("VACUUM (ANALYZE)")
        return {"organization_id": str(organization_id), "reps": len(rep_ids)}
    finally:
        await connection.close()


def _sweep(database_url: str, started: float) -> dict[str, float]:
    """One worker process: runs the job once, as arq would, with the bench's clock."""
    import os

    os.environ.update(bench_env(database_url))
    from app.db import create_engine, create_sessionmaker
    from app.workers.jobs import remind_tasks
    from app.workers.queue import ArqQueue

    async def run() -> dict[str, float]:
        engine = create_engine(database_url, pool_size=2)
        queue = await ArqQueue.connect(REDIS_URL)
        try:
            await asyncio.sleep(max(0.0, started - time.time()))
            begin = time.perf_counter()
            reminded = await remind_tasks(
                {"sessionmaker": create_sessionmaker(engine), "queue": queue, "clock": lambda: NOW}
            )
            return {"reminders": reminded, "seconds": time.perf_counter() - begin}
        finally:
            await queue.close()
            await engine.dispose()

    return asyncio.run(run())


async def _check(dsn: str) -> dict[str, object]:
    connection = await asyncpg.connect(dsn)
    try:
        return {
            "outbox_events": dict(
                await connection.fetch(
                    "SELECT topic, count(*) FROM outbox_event WHERE topic LIKE 'task.%' GROUP BY topic ORDER BY topic"
                )
            ),
            "tasks_announced_twice": await connection.fetchval(
                """SELECT count(*) FROM (SELECT payload->>'task_id' FROM outbox_event
                   WHERE topic LIKE 'task.%' GROUP BY 1 HAVING count(*) > 1) AS twice"""
            ),
            "left_to_remind": await connection.fetchval(
                "SELECT count(*) FROM task WHERE status = 'open' AND due_at <= $1 AND due_notified_at IS NULL",
                NOW,
            ),
        }
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--later", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    url = demo_database(DATABASE)
    load_started = time.perf_counter()
    loaded = asyncio.run(_load(asyncpg_dsn(url), args.tasks, args.later))
    load_seconds = time.perf_counter() - load_started

    started = time.time() + 1.0
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.workers) as pool:
        runs = pool.starmap(_sweep, [(url, started)] * args.workers)
    checked = asyncio.run(_check(asyncpg_dsn(url)))
    print(
        json.dumps(
            {
                "tasks_due": args.tasks,
                "tasks_later": args.later,
                "workers": args.workers,
                "load_seconds": round(load_seconds, 1),
                **loaded,
                "sweep_seconds": round(max(run["seconds"] for run in runs), 2),
                "reminders": sum(int(run["reminders"]) for run in runs),
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
