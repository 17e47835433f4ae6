"""Redis restarts: a worker reconnects with backoff and goes on assigning leads, and the leads the
API took while Redis was away are all assigned, and their notifications sent, once it is back."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.bootstrap import build_infrastructure
from app.config import Settings
from app.db import create_sessionmaker
from app.domain.assignment.assignment import Strategy
from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadSource
from app.domain.models import Lead
from app.services.assignment import assignment_rules
from app.services.identity.users import NewUser, create_user
from app.services.leads import leads
from app.services.organizations import create_organization
from app.services.platform.unit_of_work import session_scope
from app.workers.queue import ArqQueue
from app.workers.settings import ResilientWorker, WorkerSettings, redis_settings
from tests.conftest import IN_CI, PASSWORD, Clock, Tenant, eventually, new_tenant, serving, sign_in

LEADS_PER_ROUND = 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OwnRedis:
    """A redis-server of the test's own on a free port, so restarting it disturbs nobody else."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is not installed (required under CI)")
        pytest.skip("redis-server is not installed")
    server = OwnRedis(binary)
    server.start()
    yield server
    server.stop()


@contextlib.asynccontextmanager
async def resilient_worker(settings: Settings, clock: Clock) -> AsyncIterator[asyncio.Task[None]]:
    """`crm worker`'s worker class, Redis settings and job context, in this process (without the
    minute cron, which the tests do not wait for); yields its running main loop."""
    assert settings.redis_url is not None
    infrastructure = build_infrastructure(settings, clock=clock)

    async def startup(ctx: dict[str, Any]) -> None:
        ctx.update(infrastructure.job_context(ArqQueue(ctx["redis"])))

    worker = ResilientWorker(
        functions=WorkerSettings.functions,
        redis_settings=redis_settings(settings.redis_url),
        on_startup=startup,
        handle_signals=False,
        poll_delay=0.05,
    )
    running = asyncio.create_task(worker.main())
    try:
        yield running
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        # A job the cancelled loop was running ends cancelled, and arq's close would re-raise that
        # CancelledError (a BaseException: it breaks pytest's teardown of every later fixture).
        await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
        worker.tasks.clear()
        await worker.close()
        await infrastructure.aclose()


async def _wait_until_assigned(sessionmaker: Any, expected: int, seconds: float = 30) -> int:
    """Polls until `expected` leads have an owner or the deadline passes; answers the count."""
    deadline = time.monotonic() + seconds
    while True:
        async with sessionmaker() as session:
            assigned = int(await session.scalar(select(func.count()).where(Lead.owner_id.is_not(None))) or 0)
        if assigned >= expected or time.monotonic() > deadline:
            return assigned
        await asyncio.sleep(0.1)


async def _create_leads(sessionmaker: Any, queue: ArqQueue, actor: Principal, clock: Any, first: int) -> None:
    async with session_scope(sessionmaker, queue) as session:
        for n in range(first, first + LEADS_PER_ROUND):
            await leads.create_lead(
                session,
                actor=actor,
                data=leads.NewLead(name=f"lead {n}", source=LeadSource.api, phone=f"136{n:08d}"),
                now=clock(),
            )


async def test_a_worker_keeps_assigning_after_its_redis_restarts(settings, engine, clock, own_redis):
    sessionmaker = create_sessionmaker(engine, clock)
    api_queue = await ArqQueue.connect(own_redis.url)
    async with session_scope(sessionmaker, api_queue) as session:
        organization = (
            await create_organization(
                session,
                name="Restart Org",
                admin_username="restart-admin",
                admin_password="x" * 12,
                timezone="UTC",
            )
        ).organization
        system = Principal.system(organization.id)
        rep = await create_user(
            session,
            actor=system,
            data=NewUser(username="restart-rep", display_name="rep", password="x" * 12, role=Role.rep),
        )
        await assignment_rules.create_rule(
            session,
            actor=system,
            data=assignment_rules.NewRule(
                name="everyone", priority=1, strategy=Strategy.round_robin, user_ids=[rep.id]
            ),
        )

    configured = settings.model_copy(update={"redis_url": own_redis.url})
    try:
        async with resilient_worker(configured, clock) as running:
            await _create_leads(sessionmaker, api_queue, system, clock, 0)
            assert await _wait_until_assigned(sessionmaker, LEADS_PER_ROUND) == LEADS_PER_ROUND

            own_redis.stop()
            await asyncio.sleep(2)
            own_redis.start()

            # An API process's next enqueues, on a fresh connection to the restarted Redis (its old
            # connection's failure is the outbox sweep's to make up for, tested below).
            await api_queue.close()
            api_queue = await ArqQueue.connect(own_redis.url)
            await _create_leads(sessionmaker, api_queue, system, clock, LEADS_PER_ROUND)
            assert await _wait_until_assigned(sessionmaker, 2 * LEADS_PER_ROUND) == 2 * LEADS_PER_ROUND
            assert not running.done(), "the worker exited"
    finally:
        await api_queue.close()


@dataclass
class Stack:
    """An API and a worker sharing the test's own Redis, with a tenant whose leads go round robin
    to two reps."""

    client: httpx.AsyncClient
    tenant: Tenant
    rep_tokens: list[str]
    worker: asyncio.Task[None]


@pytest.fixture
async def stack(settings, clock, engine, own_redis) -> AsyncIterator[Stack]:
    configured = settings.model_copy(update={"redis_url": own_redis.url})
    async with (
        serving(configured, clock) as (application, client),
        resilient_worker(configured, clock) as worker,
    ):
        tenant = await new_tenant(application, client)
        reps = [await _rep(client, tenant, f"outage-rep-{n}") for n in (1, 2)]
        rule = {
            "name": "everyone",
            "priority": 1,
            "strategy": "round_robin",
            "user_ids": [r for r, _ in reps],
        }
        created = await client.post("/api/v1/assignment-rules", json=rule, headers=tenant.headers)
        assert created.status_code == 201, created.text
        yield Stack(client, tenant, [token for _, token in reps], worker)
        assert not worker.done(), "the worker exited"


async def _rep(client: httpx.AsyncClient, tenant: Tenant, username: str) -> tuple[str, str]:
    body = {"username": username, "display_name": username, "password": PASSWORD, "role": "rep"}
    created = await client.post("/api/v1/users", json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    return created.json()["id"], await sign_in(client, username)


async def _post_leads(stack: Stack, answers: list[httpx.Response], stop: asyncio.Event) -> None:
    while not stop.is_set():
        n = len(answers)
        lead = {"name": f"lead {n}", "source": "api", "phone": f"136{n:08d}"}
        answers.append(await stack.client.post("/api/v1/leads", json=lead, headers=stack.tenant.headers))
        await asyncio.sleep(0.01)  # about fifty leads a second


async def _owners(stack: Stack) -> dict[str, str | None]:
    page = await stack.client.get("/api/v1/leads", params={"limit": 200}, headers=stack.tenant.headers)
    return {lead["id"]: lead["owner_id"] for lead in page.json()["items"]}


async def _assignments_in_inboxes(stack: Stack) -> Counter[str]:
    """How often each lead's assignment reached its rep's inbox."""
    told: Counter[str] = Counter()
    for token in stack.rep_tokens:
        page = await stack.client.get(
            "/api/v1/notifications", params={"limit": 200}, headers={"Authorization": f"Bearer {token}"}
        )
        told.update(
            item["data"]["lead_id"] for item in page.json()["items"] if item["topic"] == "lead.assigned"
        )
    return told


async def test_leads_posted_while_redis_is_down_are_all_assigned_and_notified_once_it_is_back(
    stack, own_redis
):
    answers: list[httpx.Response] = []
    stop = asyncio.Event()
    ingesting = asyncio.create_task(_post_leads(stack, answers, stop))
    await eventually(lambda: len(answers) >= 10)
    own_redis.stop()  # in the middle of the ingest
    taken_before_the_outage = len(answers)
    await eventually(lambda: len(answers) >= taken_before_the_outage + 20)
    stop.set()
    await ingesting
    # Nothing is posted from now on, so no new lead's job can sweep up the waiting ones: the
    # recovery has to come from the worker.
    own_redis.start()

    assert [answer.status_code for answer in answers] == [201] * len(answers)
    lead_ids = {answer.json()["id"] for answer in answers}

    async def all_assigned() -> bool:
        """every lead has an owner"""
        owners = await _owners(stack)
        return owners.keys() == lead_ids and None not in owners.values()

    async def all_notified() -> bool:
        """every assignment reached an inbox"""
        return sum((await _assignments_in_inboxes(stack)).values()) >= len(lead_ids)

    await eventually(all_assigned)
    await eventually(all_notified)
    assert await _assignments_in_inboxes(stack) == Counter(dict.fromkeys(lead_ids, 1))

    # The API goes on with the connection it had before the restart.
    stop.clear()
    ingesting = asyncio.create_task(_post_leads(stack, answers, stop))
    await eventually(lambda: len(answers) >= len(lead_ids) + 5)
    stop.set()
    await ingesting
    assert [answer.status_code for answer in answers] == [201] * len(answers)
    lead_ids = {answer.json()["id"] for answer in answers}
    await eventually(all_assigned)


async def test_an_import_uploaded_while_redis_is_down_runs_once_it_is_back(stack, own_redis):
    own_redis.stop()
    csv = "name,phone\n" + "".join(f"imported {n},137{n:08d}\n" for n in range(5))
    started = await stack.client.post(
        "/api/v1/leads/import",
        files={"file": ("leads.csv", csv.encode(), "text/csv")},
        headers=stack.tenant.headers,
    )
    assert started.status_code == 202, started.text
    own_redis.start()

    async def completed() -> bool:
        """the import ran"""
        job = await stack.client.get(
            f"/api/v1/import-jobs/{started.json()['id']}", headers=stack.tenant.headers
        )
        return bool(job.json()["status"] == "completed" and job.json()["created_count"] == 5)

    await eventually(completed)
    assert len(await _owners(stack)) == 5
