"""A worker rides out a Redis restart: it reconnects with backoff and goes on assigning leads."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import create_sessionmaker
from app.domain.assignment import Strategy
from app.domain.leads import LeadSource
from app.domain.models import Lead
from app.domain.permissions import Role
from app.domain.principal import Principal
from app.services import assignment_rules, leads
from app.services.organizations import create_organization
from app.services.unit_of_work import session_scope
from app.services.users import NewUser, create_user
from app.workers.queue import ArqQueue
from app.workers.settings import ResilientWorker, WorkerSettings, redis_settings
from tests.conftest import IN_CI

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


async def test_a_worker_keeps_assigning_after_its_redis_restarts(engine, clock, own_redis):
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

    async def startup(ctx: dict[str, Any]) -> None:
        ctx.update(sessionmaker=sessionmaker, queue=ArqQueue(ctx["redis"]), clock=clock)

    # The production worker class and connection settings; only the job context is the test's.
    worker = ResilientWorker(
        functions=WorkerSettings.functions,
        redis_settings=redis_settings(own_redis.url),
        on_startup=startup,
        handle_signals=False,
        poll_delay=0.05,
    )
    running = asyncio.create_task(worker.main())
    try:
        await _create_leads(sessionmaker, api_queue, system, clock, 0)
        assert await _wait_until_assigned(sessionmaker, LEADS_PER_ROUND) == LEADS_PER_ROUND

        own_redis.stop()
        await asyncio.sleep(2)
        own_redis.start()

        # An API process's next enqueues, on a fresh connection to the restarted Redis (its old
        # connection's failure is the outbox sweep's to make up for, tested elsewhere).
        await api_queue.close()
        api_queue = await ArqQueue.connect(own_redis.url)
        await _create_leads(sessionmaker, api_queue, system, clock, LEADS_PER_ROUND)
        assert await _wait_until_assigned(sessionmaker, 2 * LEADS_PER_ROUND) == 2 * LEADS_PER_ROUND
        assert not running.done(), "the worker exited"
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await worker.close()
        await api_queue.close()
