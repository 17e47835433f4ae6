"""Customer health recompute at 100k customers (issue 17): the nightly job against one hand-written
set-based UPDATE that computes the same scores.

Seeds one organization with bench/scale_data.py's generator, scaled to 100,000 customers (with its
~1M activities, ~67k opportunities, ~333k SLA timers of which some breached), then adds what health
reads beyond it: satisfaction surveys on 10 % of activities and an engagement temperature on 40 %
of customers. Then, with the organization's default health settings:

1. night 1: the nightly job (`recompute_customer_health`, as arq runs it) scores every customer for
   the first time;
2. night 2, a day later: the job again, every customer due again (the steady state of a night);
3. the hand-written UPDATE at night 2's instant, after the job's scores were copied aside, and the
   two compared customer by customer.

Run (PostgreSQL at 127.0.0.1:5432, database recreated):
    .venv/bin/python -m bench.health_recompute --database crm_health_bench_test
Again on the data seeded by an earlier run (its scores, snapshots and outbox cleared first):
    .venv/bin/python -m bench.health_recompute --database crm_health_bench_test --reuse
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import create_engine, create_sessionmaker
from app.services.identity.security import hash_password
from app.services.organizations import create_organization
from app.services.platform.jobs import JobRequest
from app.workers.jobs import recompute_customer_health
from bench.common import ADMIN_URL, CRM, bench_env, recreate_database
from bench.scale_data import PASSWORD, PRESETS, USERNAME_PREFIX, seed

CUSTOMERS = 100_000
# screens' ratio is 0.3 customers per lead.
SIZES = PRESETS["screens"].with_leads(round(CUSTOMERS / 0.3))

_EXTRA_FACTS = [
    """
    UPDATE activity SET satisfaction = 1 + floor(random() * 5)::int
    WHERE organization_id = :org AND customer_id IS NOT NULL AND random() < 0.1
    """,
    """
    UPDATE customer SET temperature = round((random() * 20)::numeric, 3)::float8,
                        temperature_at = CAST(:now AS timestamptz) - interval '1 second' * floor(random() * 60 * 86400)
    WHERE organization_id = :org AND random() < 0.4
    """,
]

# The default settings' score, written out by hand: weights 30/15/25/10/10/10 (so points = weights),
# tier intervals 7/14/30 days, tier expectations 500k/100k/20k, 3 breaches take every point,
# temperature 10 takes every point, half-life 14 days, green from 70, yellow from 50. Float
# arithmetic in the order the domain function does it, so both round the same way.
HAND_WRITTEN_UPDATE = """
WITH act AS (
    SELECT customer_id,
           max(occurred_at) FILTER (WHERE is_effective) AS last_effective,
           count(*) FILTER (WHERE type <> 'note' AND occurred_at >= CAST(:now AS timestamptz) - interval '30 days') AS recent,
           count(*) FILTER (WHERE type <> 'note' AND occurred_at >= CAST(:now AS timestamptz) - interval '90 days'
                                                 AND occurred_at < CAST(:now AS timestamptz) - interval '30 days') AS previous,
           avg(satisfaction) FILTER (WHERE occurred_at >= CAST(:now AS timestamptz) - interval '365 days') AS satisfaction
    FROM activity WHERE organization_id = :org AND customer_id IS NOT NULL
    GROUP BY customer_id
), won AS (
    SELECT customer_id, sum(amount) AS amount FROM opportunity
    WHERE organization_id = :org AND status = 'won' AND closed_at >= CAST(:now AS timestamptz) - interval '365 days'
    GROUP BY customer_id
), breach AS (
    SELECT customer_id, count(*) AS n FROM (
        SELECT t.subject_id AS customer_id FROM sla_timer t
        WHERE t.organization_id = :org AND t.subject_type = 'customer' AND t.state IN ('breached', 'escalated')
        UNION ALL
        SELECT l.customer_id FROM sla_timer t JOIN lead l ON l.id = t.subject_id
        WHERE t.organization_id = :org AND t.subject_type = 'lead' AND t.state IN ('breached', 'escalated')
          AND l.customer_id IS NOT NULL
        UNION ALL
        SELECT o.customer_id FROM sla_timer t JOIN opportunity o ON o.id = t.subject_id
        WHERE t.organization_id = :org AND t.subject_type = 'opportunity' AND t.state IN ('breached', 'escalated')
    ) b GROUP BY customer_id
), v AS (
    SELECT c.id,
           CASE WHEN a.last_effective IS NULL THEN 0::float8
                ELSE least(1::float8, greatest(0::float8, 1::float8 - (
                    extract(epoch FROM (CAST(:now AS timestamptz) - a.last_effective))::float8 / 86400::float8 - e.days)
                    / (2::float8 * e.days))) END AS recency,
           CASE WHEN coalesce(a.previous, 0) = 0 THEN CASE WHEN coalesce(a.recent, 0) > 0 THEN 1 ELSE 0 END
                ELSE least(1::float8, 2::float8 * a.recent / a.previous) END AS trend,
           least(1::float8, coalesce(w.amount, 0)::float8 / e.won_expected) AS won,
           greatest(0::float8, 1::float8 - coalesce(b.n, 0)::float8 / 3::float8) AS breaches,
           CASE WHEN a.satisfaction IS NULL THEN 0.5::float8
                ELSE (a.satisfaction::float8 - 1::float8) / 4::float8 END AS satisfaction,
           CASE WHEN c.temperature IS NULL THEN 0::float8
                ELSE least(1::float8, c.temperature * power(0.5::float8,
                    (greatest(extract(epoch FROM (CAST(:now AS timestamptz) - c.temperature_at)), 0) * 1000000)::float8
                    / 1209600000000::float8) / 10::float8) END AS temperature
    FROM customer c
    JOIN (VALUES ('A', 7::float8, 500000::float8), ('B', 14::float8, 100000::float8),
                 ('C', 30::float8, 20000::float8)) e (tier, days, won_expected) ON e.tier = c.tier
    LEFT JOIN act a ON a.customer_id = c.id
    LEFT JOIN won w ON w.customer_id = c.id
    LEFT JOIN breach b ON b.customer_id = c.id
    WHERE c.organization_id = :org
), s AS (
    SELECT id, (floor(30 * recency + 0.5) + floor(15 * trend + 0.5) + floor(25 * won + 0.5)
                + floor(10 * breaches + 0.5) + floor(10 * satisfaction + 0.5)
                + floor(10 * temperature + 0.5))::int AS score
    FROM v
)
UPDATE customer c
SET health_score = s.score,
    health_band = CASE WHEN s.score >= 70 THEN 'green' WHEN s.score >= 50 THEN 'yellow' ELSE 'red' END,
    health_computed_at = CAST(:now AS timestamptz)
FROM s WHERE c.id = s.id
"""


class _Requests:
    """The job context's queue: the jobs asked for (outbox dispatch) are counted, not run."""

    def __init__(self) -> None:
        self.jobs: list[JobRequest] = []

    async def enqueue(self, job: JobRequest) -> None:
        self.jobs.append(job)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


async def _seed(engine: AsyncEngine, now: datetime) -> uuid.UUID:
    async with create_sessionmaker(engine)() as session:
        created = await create_organization(
            session,
            name="Health Materials",
            admin_username=f"{USERNAME_PREFIX}admin",
            admin_password=PASSWORD,
            timezone="Asia/Shanghai",
        )
        organization_id = created.organization.id
        await session.commit()
    started = time.perf_counter()
    async with engine.begin() as connection:
        await connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
        await connection.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        await seed(
            connection,
            organization_id=organization_id,
            sizes=SIZES,
            now=now,
            password_hash=hash_password(PASSWORD),
            log=True,
        )
        for statement in _EXTRA_FACTS:
            await connection.execute(text(statement), {"org": organization_id, "now": now})
    await _vacuum(engine)
    print(f"seeded {SIZES} in {time.perf_counter() - started:.0f} s (with VACUUM ANALYZE)", flush=True)
    return organization_id


async def _vacuum(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("VACUUM ANALYZE")


async def _night(engine: AsyncEngine, clock: Callable[[], datetime]) -> tuple[float, int, int]:
    """(seconds, customers scored, jobs requested) of one nightly run."""
    queue = _Requests()
    context: dict[str, Any] = {"sessionmaker": create_sessionmaker(engine), "queue": queue, "clock": clock}
    started = time.perf_counter()
    scored = await recompute_customer_health(context)
    return time.perf_counter() - started, scored, len(queue.jobs)


async def _hand_written(engine: AsyncEngine, organization_id: uuid.UUID, now: datetime) -> tuple[float, int]:
    async with engine.begin() as connection:
        await connection.exec_driver_sql("DROP TABLE IF EXISTS bench_job_score")
        await connection.exec_driver_sql(
            "CREATE TABLE bench_job_score AS SELECT id, health_score, health_band FROM customer"
        )
    await _vacuum(engine)
    async with engine.begin() as connection:
        started = time.perf_counter()
        updated = await connection.execute(text(HAND_WRITTEN_UPDATE), {"org": organization_id, "now": now})
        seconds = time.perf_counter() - started
    return seconds, updated.rowcount


async def _disagreements(engine: AsyncEngine) -> tuple[int, int, list[Any]]:
    async with engine.connect() as connection:
        differing = (
            await connection.execute(
                text(
                    "SELECT count(*) FILTER (WHERE c.health_score IS DISTINCT FROM j.health_score "
                    "OR c.health_band IS DISTINCT FROM j.health_band), count(*) "
                    "FROM customer c JOIN bench_job_score j USING (id)"
                )
            )
        ).one()
        bands = (
            await connection.execute(
                text(
                    "SELECT health_band, count(*), round(avg(health_score), 1) FROM customer GROUP BY 1 ORDER BY 1"
                )
            )
        ).all()
    return differing[0], differing[1], list(bands)


async def _reuse(engine: AsyncEngine) -> tuple[uuid.UUID, datetime]:
    """The seeded organization and the instant it was seeded at, with no health computed yet."""
    async with engine.begin() as connection:
        organization_id, seeded_at = (
            await connection.execute(
                text("SELECT id, created_at FROM organization WHERE name = 'Health Materials'")
            )
        ).one()
        for statement in (
            "UPDATE customer SET health_score = NULL, health_band = NULL, health_computed_at = NULL",
            "DELETE FROM customer_health_snapshot",
            "DELETE FROM outbox_event",
            "DROP TABLE IF EXISTS bench_job_score",
        ):
            await connection.exec_driver_sql(statement)
    await _vacuum(engine)
    # _seed was given an instant a moment before the organization was created; a second later
    # is as good a "now" for the comparison, which runs both computations at the same instant.
    return organization_id, seeded_at.replace(microsecond=0) + timedelta(seconds=1)


async def _run(url: str, reuse: bool) -> None:
    engine = create_engine(url)
    if reuse:
        organization_id, now = await _reuse(engine)
    else:
        now = datetime.now(UTC).replace(microsecond=0)
        organization_id = await _seed(engine, now)
    seconds, scored, jobs = await _night(engine, lambda: now)
    print(f"night 1 (first scoring): {scored} customers in {seconds:.2f} s", flush=True)
    await _vacuum(engine)
    tomorrow = now + timedelta(days=1)
    seconds, scored, jobs = await _night(engine, lambda: tomorrow)
    print(f"night 2 (steady state): {scored} customers in {seconds:.2f} s, {jobs} jobs requested", flush=True)
    hand_seconds, hand_rows = await _hand_written(engine, organization_id, tomorrow)
    print(f"hand-written UPDATE: {hand_rows} customers in {hand_seconds:.2f} s", flush=True)
    differing, compared, bands = await _disagreements(engine)
    print(f"scores differing between the two: {differing} of {compared}")
    print("bands:", ", ".join(f"{band}: {count} (mean {mean})" for band, count, mean in bands))
    print(f"ratio job / hand-written: {seconds / hand_seconds:.2f}")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database", default="crm_health_bench_test", help="PostgreSQL database to (re)create"
    )
    parser.add_argument("--reuse", action="store_true", help="keep the data an earlier run seeded")
    args = parser.parse_args()
    if args.reuse:
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{args.database}"
    else:
        url = asyncio.run(recreate_database(args.database))
        subprocess.run([CRM, "db", "upgrade"], env=bench_env(url), check=True, capture_output=True)
    asyncio.run(_run(url, args.reuse))


if __name__ == "__main__":
    main()
