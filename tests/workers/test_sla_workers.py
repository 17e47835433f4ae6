"""SLA transitions happen exactly once with several arq workers on a real Redis, even when one is
killed in the middle of a sweep: its transaction rolls back and the others carry out everything,
once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from arq import ArqRedis
from sqlalchemy import func, select

from app.db import create_sessionmaker
from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadSource
from app.domain.models import Notification, OutboxEvent, SlaEvent, SlaTimer
from app.domain.sla.sla import SlaKind, TimerState
from app.services.identity import teams
from app.services.identity.users import NewUser, create_user
from app.services.leads import lead_pool, leads
from app.services.organizations import create_organization
from app.services.platform.unit_of_work import session_scope
from app.services.sla import sla
from app.workers.queue import ArqQueue
from tests.workers.burst import burst_worker
from tests.workers.frozen_worker_process import kill_once_frozen

LEADS = 30
# Friday 17:50 in Shanghai: 30 business minutes run out on Monday at 09:20, the step an hour later.
# In the past, because arq defers jobs by the real clock: jobs deferred to the test clock's instants
# must be due, or burst workers wait for them.
FRIDAY_1750 = datetime(2025, 11, 28, 9, 50, tzinfo=UTC)
MONDAY_1100 = datetime(2025, 12, 1, 3, 0, tzinfo=UTC)


async def _timed_leads(sessionmaker, queue, clock) -> tuple[object, tuple[object, object]]:
    async with session_scope(sessionmaker, queue) as session:
        created_organization = await create_organization(
            session,
            name="Kill Org",
            admin_username="kill-admin",
            admin_password="x" * 12,
            timezone="Asia/Shanghai",
        )
        organization = created_organization.organization
        admin = Principal.for_user(organization.id, created_organization.admin.id, Role.admin)
        system = Principal.system(organization.id)

        async def user(name: str, role: Role):
            return await create_user(
                session,
                actor=system,
                data=NewUser(username=name, display_name=name, password="x" * 12, role=role),
            )

        rep, supervisor, director = (
            await user("k-rep", Role.rep),
            await user("k-sup", Role.supervisor),
            await user("k-dir", Role.director),
        )
        await teams.create_team(
            session,
            actor=system,
            data=teams.NewTeam(name="华东", supervisor_id=supervisor.id, member_ids=(rep.id,)),
        )
        await sla.create_policy(
            session,
            actor=system,
            name="首响30分钟",
            kind=SlaKind.first_response,
            target_minutes=30,
            rules={"steps": [{"after_minutes": 60, "notify": ["director"]}]},
        )
        created = [
            (
                await leads.create_lead(
                    session,
                    actor=system,
                    data=leads.NewLead(name=f"线索{n}", source=LeadSource.api, phone=f"136{n:08d}"),
                    now=clock(),
                )
            ).lead
            for n in range(LEADS)
        ]
        for lead in created:
            await lead_pool.assign_manually(
                session, actor=admin, lead_id=lead.id, user_id=rep.id, reason="区域", now=clock()
            )
    return rep, (supervisor, director)


async def _count(sessionmaker, statement) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(statement) or 0)


async def test_transitions_happen_once_when_a_worker_is_killed_mid_sweep(
    engine, database_url, redis_url, clock, tmp_path: Path
):
    clock.now = FRIDAY_1750
    sessionmaker = create_sessionmaker(engine, clock)
    queue = ArqQueue(ArqRedis.from_url(redis_url))
    rep, (supervisor, director) = await _timed_leads(sessionmaker, queue, clock)
    clock.now = MONDAY_1100  # warning, breach and the director's step are all due

    await queue.redis.enqueue_job("fire_sla_timers", _job_id="doomed")
    await kill_once_frozen(database_url, redis_url, clock.now, tmp_path)
    # Killed after writing its transitions and events, before committing them: nothing of it stays.
    assert await _count(sessionmaker, select(func.count()).select_from(SlaEvent)) == 0
    assert (
        await _count(
            sessionmaker, select(func.count()).select_from(OutboxEvent).where(OutboxEvent.topic.like("sla.%"))
        )
        == 0
    )

    context = {"sessionmaker": sessionmaker, "queue": queue, "clock": clock}
    # Two survivors, each with competing runs, then a retry of everything: still once each.
    for n in range(4):
        await queue.redis.enqueue_job("fire_sla_timers", _job_id=f"survivor:{n}")
    survivors = [burst_worker(redis_url, context, poll_delay=0.05, max_jobs=4) for _ in range(2)]
    await asyncio.gather(*(worker.main() for worker in survivors))
    await queue.redis.enqueue_job("fire_sla_timers", _job_id="retry")
    await survivors[0].main()
    for worker in survivors:
        await worker.close()
    await queue.close()

    assert sum(worker.jobs_failed for worker in survivors) == 0
    async with sessionmaker() as session:
        events = Counter((await session.execute(select(SlaEvent.state, SlaEvent.level))).all())
        states = Counter((await session.execute(select(SlaTimer.state, SlaTimer.level))).all())
        inboxes = Counter(
            (
                await session.execute(
                    select(Notification.user_id, Notification.topic).where(Notification.topic.like("sla.%"))
                )
            ).all()
        )
    assert events == {
        (TimerState.warned, 0): LEADS,
        (TimerState.breached, 0): LEADS,
        (TimerState.escalated, 1): LEADS,
    }
    assert states == {(TimerState.escalated, 1): LEADS}
    assert inboxes == {
        (rep.id, "sla.warned"): LEADS,
        (rep.id, "sla.breached"): LEADS,
        (supervisor.id, "sla.breached"): LEADS,
        (director.id, "sla.escalated"): LEADS,
    }
