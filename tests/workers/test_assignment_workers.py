"""Assignment under concurrency: several arq workers on a real Redis share one round-robin rule."""

from __future__ import annotations

import asyncio
from collections import Counter

from arq import ArqRedis
from sqlalchemy import func, select

from app.db import create_sessionmaker
from app.domain.assignment import Strategy
from app.domain.leads import LeadSource
from app.domain.models import Lead, LeadAssignment
from app.domain.permissions import Role
from app.domain.principal import Principal
from app.services import assignment_rules, leads
from app.services.organizations import create_organization
from app.services.unit_of_work import session_scope
from app.services.users import NewUser, create_user
from app.workers.queue import ArqQueue
from tests.workers.burst import burst_worker

REPS = 7
WORKERS = 4
# SQLite serialises writers, so the race lives on PostgreSQL; SQLite runs a shorter version.
LEADS_BY_DIALECT = {"postgresql": 700, "sqlite": 140}


async def test_four_workers_share_round_robin_fairly_and_assign_each_lead_once(engine, clock, redis_url):
    total = LEADS_BY_DIALECT[engine.dialect.name]
    sessionmaker = create_sessionmaker(engine, clock)
    queue = ArqQueue(ArqRedis.from_url(redis_url))
    async with session_scope(sessionmaker, queue) as session:
        organization = (
            await create_organization(
                session, name="Fair Org", admin_username="fair-admin", admin_password="x" * 12, timezone="UTC"
            )
        ).organization
        system = Principal.system(organization.id)
        reps = [
            await create_user(
                session,
                actor=system,
                data=NewUser(
                    username=f"fair-rep-{n}", display_name=f"rep {n}", password="x" * 12, role=Role.rep
                ),
            )
            for n in range(REPS)
        ]
        await assignment_rules.create_rule(
            session,
            actor=system,
            data=assignment_rules.NewRule(
                name="everyone", priority=1, strategy=Strategy.round_robin, user_ids=[r.id for r in reps]
            ),
        )
    for batch in range(0, total, 100):
        async with session_scope(sessionmaker, queue) as session:
            for n in range(batch, min(batch + 100, total)):
                await leads.create_lead(
                    session,
                    actor=system,
                    data=leads.NewLead(name=f"lead {n}", source=LeadSource.api, phone=f"137{n:08d}"),
                    now=clock(),
                )

    # Leads created together share a few batched runs; more runs make the four workers compete
    # for the same waiting leads and the same rule.
    for n in range(4 * WORKERS):
        await queue.redis.enqueue_job("assign_waiting_leads", _job_id=f"compete:{n}")

    context = {"sessionmaker": sessionmaker, "queue": queue, "clock": clock}
    workers = [burst_worker(redis_url, context, poll_delay=0, max_jobs=10) for _ in range(WORKERS)]
    await asyncio.gather(*(worker.main() for worker in workers))
    for worker in workers:
        await worker.close()
    # More runs (arq retries, the scheduled sweep) must change nothing.
    for n in range(20):
        await queue.redis.enqueue_job("assign_waiting_leads", _job_id=f"again:{n}")
    rerun = burst_worker(redis_url, context, poll_delay=0)
    await rerun.main()
    await rerun.close()
    await queue.close()

    assert sum(w.jobs_failed for w in workers) == 0
    async with sessionmaker() as session:
        owners = Counter(
            (
                await session.scalars(select(Lead.owner_id).where(Lead.organization_id == organization.id))
            ).all()
        )
        history = await session.scalar(select(func.count()).select_from(LeadAssignment))
    assert None not in owners
    assert set(owners) == {r.id for r in reps}
    assert max(owners.values()) - min(owners.values()) <= 1
    assert history == total
