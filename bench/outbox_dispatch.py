"""Outbox dispatch after a storm: N pending SLA events delivered as in-app notifications.

Run: .venv/bin/python -m bench.outbox_dispatch --events 50000 [--webhooks 2]

Set-up (not timed): a fresh PostgreSQL database with the demo distributor and N pending
`sla.breached` outbox events, each naming the lead's rep and the rep's supervisor — what a sweep
over that many due timers leaves behind; with `--webhooks N`, N webhook subscriptions to `sla.breached`
as well, so each event also fans out to N deliveries (written, not sent). Timed: the `dispatch_outbox` arq job, from start until
nothing is pending. Checked afterwards: two notifications and N deliveries per event, none twice,
no event pending.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime

import asyncpg

from app.services.demo import DEMO_SLUG
from bench.common import REDIS_URL, asyncpg_dsn, bench_env, demo_database

DATABASE = "crm_bench_outbox"
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


async def _subscribe(dsn: str, webhooks: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        organization_id = await connection.fetchval("SELECT id FROM organization WHERE slug = $1", DEMO_SLUG)
        await connection.executemany(
            """INSERT INTO webhook_subscription (id, organization_id, url, event_types, secret, is_active,
               created_at, updated_at, version) VALUES ($1, $2, $3, '["sla.breached"]', $4, true, $5, $5, 1)""",
            [
                (uuid.uuid4(), organization_id, f"https://erp{n}.example.com/hooks", "whsec_" + "A" * 32, NOW)
                for n in range(webhooks)
            ],
        )
    finally:
        await connection.close()


async def _load(dsn: str, events: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        organization_id = await connection.fetchval("SELECT id FROM organization WHERE slug = $1", DEMO_SLUG)
        pairs = await connection.fetch(
            """SELECT m.user_id, t.supervisor_id FROM team_member m JOIN team t ON t.id = m.team_id
               WHERE t.organization_id = $1 AND t.supervisor_id IS NOT NULL""",
            organization_id,
        )
        rows = []
        for n in range(events):
            rep, supervisor = pairs[n % len(pairs)]
            payload = {
                "timer_id": str(uuid.uuid4()),
                "policy_name": "线索30分钟首响",
                "kind": "first_response",
                "subject_type": "lead",
                "subject_id": str(uuid.uuid4()),
                "level": 0,
                "due_at": NOW.isoformat(),
                "subject_name": f"线索{n}",
                "owner_name": "销售",
                "notify_user_ids": [str(rep), str(supervisor)],
            }
            rows.append(
                (uuid.uuid4(), organization_id, "sla.breached", json.dumps(payload), NOW, "pending", 0, NOW)
            )
        await connection.copy_records_to_table(
            "outbox_event",
            records=rows,
            columns=[
                "id",
                "organization_id",
                "topic",
                "payload",
                "created_at",
                "status",
                "attempts",
                "next_attempt_at",
            ],
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def _dispatch(database_url: str) -> dict[str, float]:
    os.environ.update(bench_env(database_url))
    from app.db import create_engine, create_sessionmaker
    from app.workers.jobs import dispatch_outbox
    from app.workers.queue import ArqQueue

    engine = create_engine(database_url, pool_size=2)
    queue = await ArqQueue.connect(REDIS_URL)
    try:
        context = {"sessionmaker": create_sessionmaker(engine), "queue": queue, "clock": lambda: NOW}
        begin = time.perf_counter()
        delivered = 0
        while True:  # one job delivers until a batch comes back short; a failure ends it early
            done = await dispatch_outbox(context)
            delivered += done
            if done == 0:
                break
        return {"delivered": delivered, "seconds": time.perf_counter() - begin}
    finally:
        await queue.close()
        await engine.dispose()


async def _check(dsn: str) -> dict[str, object]:
    connection = await asyncpg.connect(dsn)
    try:
        return {
            "notifications": await connection.fetchval(
                "SELECT count(*) FROM notification WHERE topic = 'sla.breached'"
            ),
            "notifications_distinct": await connection.fetchval(
                "SELECT count(DISTINCT (event_id, user_id)) FROM notification WHERE topic = 'sla.breached'"
            ),
            "deliveries": await connection.fetchval("SELECT count(*) FROM delivery"),
            "deliveries_distinct": await connection.fetchval(
                "SELECT count(DISTINCT (subscription_id, event_id)) FROM delivery"
            ),
            "still_pending": await connection.fetchval(
                "SELECT count(*) FROM outbox_event WHERE status = 'pending'"
            ),
        }
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--webhooks", type=int, default=0)
    args = parser.parse_args()

    url = demo_database(DATABASE)
    asyncio.run(_dispatch(url))  # the demo's own events (welcome messages) first, untimed
    asyncio.run(_subscribe(asyncpg_dsn(url), args.webhooks))
    asyncio.run(_load(asyncpg_dsn(url), args.events))
    run = asyncio.run(_dispatch(url))
    checked = asyncio.run(_check(asyncpg_dsn(url)))
    print(
        json.dumps(
            {
                "events": args.events,
                "webhooks": args.webhooks,
                "seconds": round(run["seconds"], 2),
                "events_per_second": round(args.events / run["seconds"], 1),
                **run,
                **checked,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
