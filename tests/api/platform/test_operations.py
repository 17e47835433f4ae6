"""Operations: liveness, readiness, metrics, database connections lost (one, or all under load), and
the demo tenant a fresh install starts with."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import pytest
from sqlalchemy import event, func, select, text

from app.db import create_sessionmaker
from app.domain.models import Organization, Pipeline, SlaPolicy
from app.services import demo
from app.services.platform.unit_of_work import session_scope
from tests.conftest import NullQueue, eventually, new_tenant, serving

UNREACHABLE_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:1/none"


async def test_healthz_and_readyz_answer_ok(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "redis": "not_configured"}


async def test_readyz_is_503_when_the_database_is_unreachable(settings, clock, tmp_path):
    broken = settings.model_copy(update={"database_url": UNREACHABLE_DATABASE})
    async with serving(broken, clock) as (_, client):
        response = await client.get("/readyz")
        assert (await client.get("/healthz")).status_code == 200
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "ready.database"


async def _until_gone(connection, pids: list[int], seconds: float = 10) -> None:  # type: ignore[no-untyped-def]
    """Termination is a signal: the backends are gone a moment later, not at once."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(CAST(:pids AS int[]))")

    async def gone() -> bool:
        """the terminated backends gone"""
        await connection.execute(text("SELECT pg_stat_clear_snapshot()"))  # read the view afresh
        return not await connection.scalar(query, {"pids": pids})

    await eventually(gone, seconds)


@pytest.mark.parametrize("ping_after_idle_seconds", [0.0, 3600.0])
async def test_a_pooled_connection_the_database_killed(settings, clock, engine, ping_after_idle_seconds):
    """Checked before use once idle long enough, a dead connection is replaced unseen; used again
    within that time, it fails one request with 503 and retry advice, and the next one works."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a pool of server connections is PostgreSQL's")
    configured = settings.model_copy(update={"db_ping_after_idle_seconds": ping_after_idle_seconds})
    async with serving(configured, clock) as (application, client):
        headers = (await new_tenant(application, client)).headers
        assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 200
        await (
            application.state.runtime.queue.drain()
        )  # no job holds a connection: the next request takes a pooled one
        async with engine.connect() as connection:  # the test's own pool: not the app's
            others = (
                await connection.scalars(
                    text(
                        "SELECT pid FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            ).all()
            terminate = text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid")
            await connection.execute(terminate, {"pids": others})
            assert others
            await _until_gone(connection, list(others))
        first = await client.get("/api/v1/users/me", headers=headers)
        second = await client.get("/api/v1/users/me", headers=headers)
    if ping_after_idle_seconds == 0:
        assert first.status_code == 200
    else:
        assert first.status_code == 503, first.text
        assert first.headers["content-type"] == "application/problem+json"
        assert first.headers["retry-after"] == "1"
        assert first.json()["code"] == "database.connection_lost"
    assert second.status_code == 200, second.text


async def test_a_connection_lost_at_commit_is_a_503_and_the_same_key_then_creates_the_lead_once(
    app, client, make_tenant, engine
):
    if engine.dialect.name != "postgresql":
        pytest.skip("a pool of server connections is PostgreSQL's")
    tenant = await make_tenant()
    await app.state.runtime.queue.drain()  # no job commits meanwhile: the next commit is the request's
    app_engine = app.state.runtime.engine.sync_engine
    cut: list[bool] = []

    def cut_the_connection_before_commit(connection):  # type: ignore[no-untyped-def]
        if not cut:
            cut.append(True)
            connection.connection.driver_connection.terminate()

    lead = {"name": "王芳", "source": "phone_400", "phone": "13900139000"}
    headers = {**tenant.headers, "Idempotency-Key": "lost-commit-1"}
    event.listen(app_engine, "commit", cut_the_connection_before_commit)
    try:
        lost = await client.post("/api/v1/leads", json=lead, headers=headers)
    finally:
        event.remove(app_engine, "commit", cut_the_connection_before_commit)
    assert lost.status_code == 503, lost.text
    assert lost.json()["code"] == "database.connection_lost"
    assert "may or may not be saved" in lost.json()["detail"]
    assert lost.headers["retry-after"] == "1"
    retried = await client.post("/api/v1/leads", json=lead, headers=headers)
    assert retried.status_code == 201, retried.text
    listed = await client.get("/api/v1/leads", params={"q": "13900139000"}, headers=tenant.headers)
    assert [item["id"] for item in listed.json()["items"]] == [retried.json()["id"]]


async def test_a_request_while_the_database_is_unreachable_is_a_503_problem(settings, clock):
    broken = settings.model_copy(update={"database_url": UNREACHABLE_DATABASE})
    async with serving(broken, clock) as (_, client):
        response = await client.post("/api/v1/auth/token", data={"username": "a", "password": "b"})
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert response.json()["code"] == "database.unavailable"


async def test_readyz_is_503_when_redis_is_unreachable_but_the_api_still_starts(settings, clock):
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    async with serving(broken, clock) as (_, client):
        response = await client.get("/readyz")
        assert (await client.get("/healthz")).status_code == 200
    assert response.status_code == 503
    assert response.json()["code"] == "ready.redis"


async def test_metrics_count_requests_by_route_template(client, make_tenant):
    tenant = await make_tenant()
    await client.get("/api/v1/users/00000000-0000-0000-0000-000000000000", headers=tenant.headers)
    text = (await client.get("/metrics")).text
    assert 'crm_http_requests_total{method="GET",route="/api/v1/users/{user_id}",status="404"}' in text
    assert "crm_http_request_duration_seconds_bucket" in text


async def test_the_demo_distributor_is_seeded_once_with_pipelines_and_a_first_response_sla(engine):
    sessionmaker = create_sessionmaker(engine)
    for _ in range(2):
        async with session_scope(sessionmaker, NullQueue()) as session:
            logins = await demo.seed_demo(session, timezone="Asia/Shanghai")
    async with sessionmaker() as session:
        organizations = await session.scalar(select(func.count()).select_from(Organization))
        pipelines = await session.scalar(select(func.count()).select_from(Pipeline))
        policy = await session.scalar(select(SlaPolicy))
    assert organizations == 1
    assert pipelines == 2
    assert policy is not None
    assert (policy.kind.value, policy.target_minutes) == ("first_response", 30)
    assert {login.username for login in logins} >= {"demo.admin", "demo.director", "demo.rep1"}


async def _terminate_the_apps_connections(engine) -> int:
    async with engine.connect() as connection:  # the test's own pool: not the app's
        return int(
            await connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        )


async def test_connections_terminated_under_load_answer_503s_and_the_api_recovers_without_a_restart(
    app, client, make_tenant, engine
):
    if engine.dialect.name != "postgresql":
        pytest.skip("a pool of server connections is PostgreSQL's")
    tenant = await make_tenant()
    answers: list[tuple[int | None, httpx.Response]] = []  # (the lead's number for a POST, answer)
    numbers = itertools.count()

    async def post_lead(n: int) -> httpx.Response:
        lead = {"name": f"负载 {n}", "source": "api", "phone": f"139{n:08d}"}
        headers = {**tenant.headers, "Idempotency-Key": f"load-{n}"}
        return await client.post("/api/v1/leads", json=lead, headers=headers)

    async def client_loop(stop: asyncio.Event) -> None:
        while not stop.is_set():
            n = next(numbers)
            answers.append((n, await post_lead(n)))
            listed = await client.get("/api/v1/leads", params={"limit": 20}, headers=tenant.headers)
            answers.append((None, listed))

    async def more_answers(count: int) -> None:
        total = len(answers) + count
        await eventually(lambda: len(answers) >= total)

    stop = asyncio.Event()
    loops = [asyncio.create_task(client_loop(stop)) for _ in range(8)]
    for _ in range(3):  # three times every connection killed, each under full load
        await more_answers(40)
        assert await _terminate_the_apps_connections(engine) >= 1
    await more_answers(80)
    stop.set()
    await asyncio.gather(*loops)

    refused = [answer for _, answer in answers if answer.status_code == 503]
    assert {answer.status_code for _, answer in answers} <= {200, 201, 503}
    assert refused, "no request met a killed connection"
    for answer in refused:
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] in {"database.connection_lost", "database.unavailable"}
        assert int(answer.headers["retry-after"]) >= 1

    # Every refused POST, retried with its key, creates its lead or replays the one it saved.
    posted = {n: answer for n, answer in answers if n is not None}
    for n, answer in posted.items():
        if answer.status_code == 503:
            posted[n] = await post_lead(n)
            assert posted[n].status_code == 201, posted[n].text
    listed: list[str] = []
    cursor = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/leads", params=params, headers=tenant.headers)).json()
        listed += [lead["id"] for lead in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(listed) == sorted(answer.json()["id"] for answer in posted.values())
    assert (await client.get("/readyz")).status_code == 200
