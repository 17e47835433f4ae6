"""The outbox dispatcher: inline without Redis, arq burst workers with Redis, sweeps and retries."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from app.domain.models import Notification, OutboxEvent, OutboxStatus
from app.domain.notifications.events import TeamMemberAdded
from app.main import create_app
from app.services.platform import outbox
from app.services.platform.unit_of_work import session_scope
from app.workers.jobs import dispatch_outbox, sweep_outbox
from tests.conftest import PASSWORD, NullQueue, sign_in
from tests.workers.burst import burst_worker


def _member_added(organization_id: uuid.UUID, notify: uuid.UUID, team_name: str = "East") -> dict:
    event = TeamMemberAdded(
        team_id=uuid.uuid4(), team_name=team_name, user_ids=(), member_names="", notify_user_ids=(notify,)
    )
    return {"organization_id": organization_id, "event": event}


async def _inbox(client: httpx.AsyncClient, token: str) -> list[dict]:
    response = await client.get("/api/v1/notifications", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return response.json()["items"]


async def test_inline_runner_delivers_the_welcome_notification_after_commit(
    client, make_tenant, make_user, app
):
    tenant = await make_tenant()
    rep, rep_token = await make_user(tenant, "rep")
    await app.state.runtime.queue.drain()
    inbox = await _inbox(client, rep_token)
    assert [n["topic"] for n in inbox] == ["user.created"]
    assert inbox[0]["title"] == "欢迎加入 Acme Building Materials"
    assert rep["username"] in inbox[0]["body"]
    assert "notify_user_ids" not in inbox[0]["data"]

    read = await client.post(
        f"/api/v1/notifications/{inbox[0]['id']}/read", headers={"Authorization": f"Bearer {rep_token}"}
    )
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    unread = await client.get(
        "/api/v1/notifications", params={"is_read": "false"}, headers={"Authorization": f"Bearer {rep_token}"}
    )
    assert unread.json()["items"] == []
    someone_elses = await client.post(f"/api/v1/notifications/{inbox[0]['id']}/read", headers=tenant.headers)
    assert someone_elses.status_code == 404


async def test_rolled_back_request_sends_nothing(client, make_tenant, app):
    tenant = await make_tenant()
    await app.state.runtime.queue.drain()
    failed = await client.post(
        "/api/v1/teams", json={"name": "East", "member_ids": [str(uuid.uuid4())]}, headers=tenant.headers
    )
    assert failed.status_code == 422
    async with app.state.runtime.sessionmaker() as session:
        topics = (await session.scalars(select(OutboxEvent.topic))).all()
    assert "team.member_added" not in topics


async def test_dispatch_is_idempotent_and_retries_failed_deliveries(engine, clock, make_tenant, app):
    tenant = await make_tenant()
    runtime = app.state.runtime
    await runtime.queue.drain()
    queue = NullQueue()
    async with session_scope(runtime.sessionmaker, queue) as session:
        good = outbox.record(session, **_member_added(tenant.organization_id, tenant.admin_id))
        # A recipient that does not exist makes the insert fail: a real delivery failure.
        bad = outbox.record(session, **_member_added(tenant.organization_id, uuid.uuid4()))
    assert [j.function for j in queue.jobs] == ["dispatch_outbox", "dispatch_outbox"]
    context = {"sessionmaker": runtime.sessionmaker, "queue": queue, "clock": clock}
    assert await dispatch_outbox(context) == 1
    assert await dispatch_outbox(context) == 0
    async with runtime.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.event_id == good.id)
        )
        failed = await session.get_one(OutboxEvent, bad.id)
    assert count == 1
    assert failed.status == OutboxStatus.pending
    assert failed.attempts == 1
    assert failed.last_error
    assert failed.next_attempt_at == clock.now + timedelta(seconds=30)

    clock.advance(seconds=31)
    assert await dispatch_outbox(context) == 0
    async with runtime.sessionmaker() as session:
        failed = await session.get_one(OutboxEvent, bad.id)
    assert failed.attempts == 2


async def test_an_event_whose_recipients_cannot_be_read_is_retried_alone(clock, make_tenant, app):
    tenant = await make_tenant()
    runtime = app.state.runtime
    await runtime.queue.drain()
    queue = NullQueue()
    async with session_scope(runtime.sessionmaker, queue) as session:
        # A row no current producer writes (an older release's, or edited by hand).
        garbled = OutboxEvent(
            id=uuid.uuid4(),
            organization_id=tenant.organization_id,
            topic="team.member_added",
            payload={"team_id": "t", "team_name": "East", "notify_user_ids": ["not-a-user-id"]},
        )
        session.add(garbled)
        good = [
            outbox.record(session, **_member_added(tenant.organization_id, tenant.admin_id, f"East {n}"))
            for n in range(3)
        ]
    context = {"sessionmaker": runtime.sessionmaker, "queue": queue, "clock": clock}

    assert await dispatch_outbox(context) == 3

    async with runtime.sessionmaker() as session:
        notified = (
            await session.scalars(
                select(Notification.event_id).where(
                    Notification.organization_id == tenant.organization_id,
                    Notification.topic == "team.member_added",
                )
            )
        ).all()
        failed = await session.get_one(OutboxEvent, garbled.id)
    # One notification for each good event, none for the garbled one, nothing twice.
    assert sorted(notified, key=str) == sorted((e.id for e in good), key=str)
    assert (failed.status, failed.attempts) == (OutboxStatus.pending, 1)
    assert "badly formed hexadecimal UUID string" in (failed.last_error or "")


async def test_sweep_enqueues_events_whose_job_was_lost(clock, make_tenant, app):
    tenant = await make_tenant()
    runtime = app.state.runtime
    await runtime.queue.drain()
    lost = NullQueue()  # the job request goes nowhere, as if Redis was down
    async with session_scope(runtime.sessionmaker, lost) as session:
        outbox.record(session, **_member_added(tenant.organization_id, tenant.admin_id))
    sweeper_queue = NullQueue()
    context = {"sessionmaker": runtime.sessionmaker, "queue": sweeper_queue, "clock": clock}
    assert await sweep_outbox(context) is True
    assert [j.function for j in sweeper_queue.jobs] == ["dispatch_outbox"]
    await dispatch_outbox(context)
    assert await sweep_outbox(context) is False


async def test_arq_burst_worker_on_real_redis_delivers_events(settings, clock, engine, redis_url):
    settings = settings.model_copy(update={"redis_url": redis_url})
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        runtime = application.state.runtime
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            from app.services.organizations import create_organization

            async with session_scope(runtime.sessionmaker, runtime.queue) as session:
                created = await create_organization(
                    session,
                    name="Redis Org",
                    admin_username="redis-admin",
                    admin_password=PASSWORD,
                    timezone="UTC",
                )
            token = await sign_in(client, "redis-admin")
            queued = await runtime.queue.redis.queued_jobs()
            assert [job.function for job in queued] == ["dispatch_outbox"]

            context = {"sessionmaker": runtime.sessionmaker, "queue": runtime.queue, "clock": clock}
            worker = burst_worker(redis_url, context, poll_delay=0)
            await worker.main()
            await worker.close()
            assert worker.jobs_complete == 1
            assert worker.jobs_failed == 0
            inbox = await _inbox(client, token)
            assert [n["topic"] for n in inbox] == ["user.created"]
            async with runtime.sessionmaker() as session:
                statuses = (
                    await session.scalars(
                        select(OutboxEvent.status).where(
                            OutboxEvent.organization_id == created.organization.id
                        )
                    )
                ).all()
            assert statuses == [OutboxStatus.delivered]


async def test_writes_succeed_while_redis_is_down_and_the_sweep_delivers_later(settings, clock, engine):
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    application = create_app(down, clock=clock)
    async with application.router.lifespan_context(application):
        runtime = application.state.runtime
        from app.services.organizations import create_organization

        async with session_scope(runtime.sessionmaker, runtime.queue) as session:
            created = await create_organization(
                session,
                name="Offline Org",
                admin_username="offline-admin",
                admin_password=PASSWORD,
                timezone="UTC",
            )
        async with runtime.sessionmaker() as session:
            pending = (
                await session.scalars(
                    select(OutboxEvent).where(OutboxEvent.organization_id == created.organization.id)
                )
            ).all()
        assert [e.status for e in pending] == [OutboxStatus.pending]

        recovered = NullQueue()
        context = {"sessionmaker": runtime.sessionmaker, "queue": recovered, "clock": clock}
        assert await sweep_outbox(context) is True
        assert await dispatch_outbox(context) == 1
