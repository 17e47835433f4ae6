"""Fixtures: each database test runs on SQLite and on PostgreSQL; Redis tests on a real Redis.

Under CI (CI=true) a missing PostgreSQL or Redis fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

import app.domain.models
from app.config import Environment, Settings
from app.db import Base, create_engine, create_sessionmaker
from app.main import create_app
from app.services.identity.security import use_password_hashing
from app.services.organizations import create_organization
from app.services.platform.jobs import JobRequest
from app.services.platform.unit_of_work import session_scope

# Under pytest-xdist each worker ("gw0", "gw1", ...) has a database and a Redis database of its own.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
ADMIN_URL = os.environ.get(
    "CRM_TEST_POSTGRES_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


def worker_database(name: str) -> str:
    """A database name of this test worker's own."""
    return f"{name}_{WORKER}" if WORKER else name


def _worker_url(url: str) -> str:
    base, name = url.rsplit("/", 1)
    return f"{base}/{worker_database(name)}"


def _worker_redis(url: str) -> str:
    base, database = url.rsplit("/", 1)
    return f"{base}/{int(database) - int(WORKER[2:])}" if WORKER else url


POSTGRES_URL = _worker_url(
    os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
)


def _refuse_a_database_that_may_hold_data(url: str) -> None:
    # The tests drop the schema of the database they are given: a name without "test" in it may be
    # somebody's real data (CRM_TEST_POSTGRES_URL pointed at the wrong database).
    name = url.rsplit("/", 1)[1]
    if "test" not in name.lower():
        raise pytest.UsageError(
            f"CRM_TEST_POSTGRES_URL names the database {name!r}; the tests wipe the database they use, "
            "so they run only on one whose name contains 'test'."
        )


_refuse_a_database_that_may_hold_data(POSTGRES_URL)
REDIS_URL = _worker_redis(os.environ.get("CRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))


def _refuse_the_redis_database_services_use(url: str) -> None:
    # The tests flush the Redis database they use; database 0 is where the service's queue and
    # caches live unless CRM_REDIS_URL names another.
    if int(urlsplit(url).path.strip("/") or 0) == 0:
        raise pytest.UsageError(
            f"CRM_TEST_REDIS_URL names Redis database 0 ({url}) for this test process; the tests flush "
            "the database they use, so they run only on databases 1-15 (default 15, one per process down)."
        )


_refuse_the_redis_database_services_use(REDIS_URL)
IN_CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "correct-horse-battery"

# argon2id at its production cost took ~0.2 s a hash and a sign-in on this 2-core machine, most of a
# typical test's time. The tests' hashes use the lowest cost: every Settings a test builds reads these
# variables, and service-level tests that make users without an app get the same cost.
os.environ["CRM_PASSWORD_HASH_TIME_COST"] = "1"
os.environ["CRM_PASSWORD_HASH_MEMORY_KIB"] = "64"
use_password_hashing(time_cost=1, memory_kib=64)


# What must never reach a log line: the tests' password, and a mainland mobile number (bare or
# +86), as stored on leads, customers and users. Ids and request ids are hex runs, never matched.
_PERSONAL_DATA = re.compile(rf"{re.escape(PASSWORD)}|(?:\+86|(?<![0-9A-Za-z-]))1[3-9]\d{{9}}(?![0-9A-Za-z-])")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Every test's captured logs are searched for personal data: a passing test whose error paths
    logged a phone or a password fails."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "teardown" and report.passed:
        leaked = _PERSONAL_DATA.search(report.capstderr + report.caplog)
        if leaked is not None:
            report.outcome = "failed"
            report.longrepr = f"the logs show personal data: {leaked.group()!r}\n{report.capstderr[-2000:]}"


def unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error!r}"
    if IN_CI:
        pytest.fail(message + " (required under CI)")
    pytest.skip(message)


async def eventually(condition: Callable[[], Any], seconds: float = 15) -> None:
    """Polls `condition` (a coroutine function or a plain one) until it holds; fails at the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        outcome = condition()
        if asyncio.iscoroutine(outcome):
            outcome = await outcome
        if outcome:
            return
        assert time.monotonic() < deadline, f"not within {seconds} s: {condition.__doc__ or condition}"
        await asyncio.sleep(0.05)


class Clock:
    """A controllable clock: tests move time instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class NullQueue:
    """For service-level tests that only check what was requested; jobs are asserted elsewhere."""

    def __init__(self) -> None:
        self.jobs: list[JobRequest] = []

    async def enqueue(self, job: JobRequest) -> None:
        self.jobs.append(job)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("db") / "test.db"
    return f"sqlite+aiosqlite:///{path}"


async def _create_if_missing(connection: AsyncConnection, name: str) -> None:
    exists = await connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
    if not exists:
        await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')


async def _create_worker_database() -> None:
    """A worker's database is made on first use; without xdist the configured one is used as is."""
    admin = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = POSTGRES_URL.rsplit("/", 1)[1]
    try:
        async with admin.connect() as connection:
            await _create_if_missing(connection, name)
    finally:
        await admin.dispose()


async def emptied_postgres_database(name: str) -> str:
    """The URL of PostgreSQL database `name`, created if missing, its public schema emptied.

    Emptied, not dropped and made again: DROP DATABASE waits for a checkpoint of the whole server,
    which took 15 s here while another database was being written (CREATE DATABASE 0.2 s)."""
    admin = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await _create_if_missing(connection, name)
            # As DROP DATABASE ... WITH (FORCE) did: a connection an interrupted run left holds no lock.
            await connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
    finally:
        await admin.dispose()
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            # The schema's tables, types, functions and extensions (pg_trgm) go with it.
            await connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            await connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        await engine.dispose()
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    url = sqlite_url if request.param == "sqlite" else POSTGRES_URL
    engine = create_engine(url)
    try:
        if WORKER and engine.dialect.name == "postgresql":
            await _create_worker_database()
        async with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                # A schema an older checkout left (a constraint this one no longer knows) goes too.
                await connection.execute(text("DROP SCHEMA public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
                # A throwaway database need not wait for each commit's WAL flush (~3 ms each here);
                # it holds for the connections opened from now on, the tests' and their apps'.
                name = url.rsplit("/", 1)[1]
                await connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
            else:
                await connection.run_sync(Base.metadata.drop_all)
            await connection.run_sync(Base.metadata.create_all)
    except (OSError, Exception) as exc:
        await engine.dispose()
        unavailable(request.param, exc)
    await engine.dispose()
    return url


def _cleaning_script(dialect: str) -> str:
    """One script that empties every table, children first, in one transaction."""
    deletes = " ".join(f'DELETE FROM "{table.name}";' for table in reversed(Base.metadata.sorted_tables))
    if dialect == "postgresql":
        # Without the foreign-key triggers (replica role): after a test that seeds 50,000 leads,
        # checking each deleted lead's references took over 13 minutes.
        return f"BEGIN; SET LOCAL session_replication_role = replica; {deletes} COMMIT;"
    return f"BEGIN IMMEDIATE; {deletes} COMMIT;"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    # DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE of every table (new files for
    # each table and index) took 0.6-1.2 s a test on PostgreSQL, DELETE 15-90 ms. Sent as one
    # script on the driver's connection: a statement each through SQLAlchemy (50 round trips)
    # cost 20-22 ms of the test process's CPU a test, one script 4 ms (PostgreSQL) and 7 ms (SQLite).
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        script = _cleaning_script(engine.dialect.name)
        if engine.dialect.name == "postgresql":
            await driver.execute(script)  # type: ignore[union-attr]
        else:
            await driver.executescript(script)  # type: ignore[union-attr]
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=database_url,
        redis_url=None,
        jwt_secret="test-secret-" + "x" * 40,
        var_dir=tmp_path,
        storage_dir=tmp_path / "files",
        log_json=True,
        log_level="WARNING",
        # Webhook tests deliver to a receiver on 127.0.0.1.
        webhook_allow_private=True,
    )


_APPS: dict[str, FastAPI] = {}


def _shared_app(settings: Settings, clock: Clock) -> FastAPI:
    """Building an app analyses every route (0.5-1 s of each test's time); tests whose settings differ
    only in their own directories share one app, and each runs its lifespan (engine, queue, jobs)
    with its own settings and clock."""
    key = settings.model_dump_json(exclude={"var_dir", "storage_dir"})
    if key not in _APPS:
        _APPS[key] = create_app(settings, clock=clock)
    application = _APPS[key]
    application.state.settings = settings
    application.state.clock = clock
    return application


@pytest.fixture
async def app(settings: Settings, clock: Clock, engine: AsyncEngine) -> AsyncIterator[object]:
    application = _shared_app(settings, clock)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def serving(settings: Settings, clock: Clock) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app of its own (started, with a client) for a test that needs other settings."""
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield application, http


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A service-level session; committed per `session_scope` in tests that need several transactions."""
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as db_session:
        yield db_session
        await db_session.rollback()


@dataclass
class Tenant:
    organization_id: uuid.UUID
    admin_id: uuid.UUID
    admin_username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def new_tenant(app: object, client: httpx.AsyncClient, name: str = "Acme Building Materials") -> Tenant:
    """An organization with a signed-in admin, created in `app`'s database."""
    runtime = app.state.runtime  # type: ignore[attr-defined]
    username = f"admin-{uuid.uuid4().hex[:8]}"
    async with session_scope(runtime.sessionmaker, runtime.queue) as db_session:
        created = await create_organization(
            db_session,
            name=name,
            admin_username=username,
            admin_password=PASSWORD,
            timezone="Asia/Shanghai",
        )
    token = await sign_in(client, username)
    return Tenant(created.organization.id, created.admin.id, username, token)


@pytest.fixture
def make_tenant(app: object, client: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    async def make(name: str = "Acme Building Materials") -> Tenant:
        return await new_tenant(app, client, name)

    return make


@pytest.fixture
def make_user(client: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    """Creates a user through the API as the tenant's admin; returns (user json, token)."""

    async def make(tenant: Tenant, role: str = "rep", **fields: object) -> tuple[dict[str, object], str]:
        username = f"{role}-{uuid.uuid4().hex[:8]}"
        body = {"username": username, "display_name": username, "password": PASSWORD, "role": role, **fields}
        response = await client.post("/api/v1/users", json=body, headers=tenant.headers)
        assert response.status_code == 201, response.text
        return response.json(), await sign_in(client, username)

    return make


@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis

    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except Exception as exc:
        unavailable("redis", exc)
    connection.flushdb()
    yield REDIS_URL
    connection.flushdb()
    connection.close()
