"""Assignment under concurrency: several arq workers on a real Redis share one round-robin rule,
and a run whose worker is killed mid-batch is re-run with no lead assigned twice."""

from __future__ import annotations

import asyncio
from collections import Counter

from arq import ArqRedis
from arq.jobs import Job
from sqlalchemy import func, select

from app.db import create_sessionmaker
from app.domain.assignment.assignment import Strategy
from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadSource
from app.domain.models import Lead, LeadAssignment, Notification
from app.services.assignment import assignment_rules
from app.services.identity.users import NewUser, create_user
from app.services.leads import leads
from app.services.organizations import create_organization
from app.services.platform.unit_of_work import session_scope
from app.workers.queue import ArqQueue
from tests.conftest import NullQueue
from tests.workers.burst import burst_worker
from tests.workers.frozen_worker_process import kill_once_frozen

REPS = 7
KILLED_RUN_LEADS = 30
WORKERS = 4
# SQLite serialises writers, so the race lives on PostgreSQL; SQLite runs a shorter version.
LEADS_BY_DIALECT = {"postgresql": 700, "sqlite": 140}


async def _round_robin_organization(sessionmaker, queue, name: str, reps: int):  # type: ignore[no-untyped-def]
    """An organization whose one rule gives leads round robin to `reps` reps."""
    async with session_scope(sessionmaker, queue) as session:
        organization = (
            await create_organization(
                session, name=name, admin_username=f"{name}-admin", admin_password="x" * 12, timezone="UTC"
            )
        ).organization
        system = Principal.system(organization.id)
        members = [
            await create_user(
                session,
                actor=system,
                data=NewUser(
                    username=f"{name}-rep-{n}", display_name=f"rep {n}", password="x" * 12, role=Role.rep
                ),
            )
            for n in range(reps)
        ]
        await assignment_rules.create_rule(
            session,
            actor=system,
            data=assignment_rules.NewRule(
                name="everyone", priority=1, strategy=Strategy.round_robin, user_ids=[r.id for r in members]
            ),
        )
    return organization, members


async def test_four_workers_share_round_robin_fairly_and_assign_each_lead_once(engine, clock, redis_url):
    total = LEADS_BY_DIALECT[engine.dialect.name]
    sessionmaker = create_sessionmaker(engine, clock)
    queue = ArqQueue(ArqRedis.from_url(redis_url))
    organization, reps = await _round_robin_organization(sessionmaker, queue, "fair", REPS)
    system = Principal.system(organization.id)
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


async def test_an_assignment_run_killed_mid_batch_leaves_nothing_and_its_rerun_assigns_each_lead_once(
    engine, database_url, redis_url, clock, tmp_path
):
    sessionmaker = create_sessionmaker(engine, clock)
    queue = ArqQueue(ArqRedis.from_url(redis_url))
    organization, reps = await _round_robin_organization(sessionmaker, queue, "killed", 3)
    system = Principal.system(organization.id)
    # Created without asking for their assignment: the run the worker is killed in is the only one.
    async with session_scope(sessionmaker, NullQueue()) as session:
        for n in range(KILLED_RUN_LEADS):
            await leads.create_lead(
                session,
                actor=system,
                data=leads.NewLead(name=f"lead {n}", source=LeadSource.api, phone=f"138{n:08d}"),
                now=clock(),
            )
    await queue.redis.enqueue_job("assign_waiting_leads", _job_id="doomed")

    await kill_once_frozen(database_url, redis_url, clock.now, tmp_path)

    # Killed after assigning its first lead, before committing: nothing of the run stays.
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(LeadAssignment)) == 0
        assert await session.scalar(select(func.count()).where(Lead.owner_id.is_not(None))) == 0
    # Once the killed worker's hold on the job runs out, arq hands the job to a survivor.
    context = {"sessionmaker": sessionmaker, "queue": queue, "clock": clock}
    survivors = [burst_worker(redis_url, context, poll_delay=0.05) for _ in range(2)]
    await asyncio.gather(*(worker.main() for worker in survivors))
    for worker in survivors:
        await worker.close()
    rerun = await Job("doomed", queue.redis).result_info()
    await queue.close()

    assert rerun is not None
    assert (rerun.success, rerun.job_try, rerun.result) == (True, 2, KILLED_RUN_LEADS)
    async with sessionmaker() as session:
        owners = Counter((await session.scalars(select(Lead.owner_id))).all())
        history = Counter((await session.scalars(select(LeadAssignment.lead_id))).all())
        told = Counter(
            (
                await session.execute(
                    select(Notification.user_id, Notification.data["lead_id"].as_string()).where(
                        Notification.topic == "lead.assigned"
                    )
                )
            ).all()
        )
    assert owners == {rep.id: KILLED_RUN_LEADS // 3 for rep in reps}
    assert sorted(history.values()) == [1] * KILLED_RUN_LEADS
    assert sorted(told.values()) == [1] * KILLED_RUN_LEADS
