"""arq worker settings; `crm worker` runs them in ResilientWorker, which survives Redis restarts."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

import structlog
from arq import cron
from arq.connections import RedisSettings
from arq.worker import Worker
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.bootstrap import build_infrastructure
from app.config import get_settings
from app.observability import configure_logging
from app.workers.jobs import JOB_REGISTRY
from app.workers.queue import ArqQueue


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    configure_logging(json=settings.log_json, level=settings.log_level)
    infrastructure = build_infrastructure(settings)
    ctx["infrastructure"] = infrastructure
    ctx.update(infrastructure.job_context(ArqQueue(ctx["redis"])))


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["infrastructure"].aclose()


T = TypeVar("T")


class RedisRetry(Retry):
    """Retries a Redis command with backoff (0.1 s doubling to 5 s) for as long as Redis is away,
    and remembers that it had to, so that the worker catches up as soon as Redis answers again.

    redis-py gives each connection a deep copy of its client's retry; the copy is this object, so
    every connection of the worker's pool reports to one place.
    """

    def __init__(self) -> None:
        super().__init__(ExponentialBackoff(cap=5, base=0.1), retries=-1)
        self._failed = False

    def __deepcopy__(self, memo: dict[int, Any]) -> RedisRetry:
        return self

    async def call_with_retry(self, do: Callable[[], Awaitable[T]], fail: Callable[[RedisError], Any]) -> T:
        async def note_then_fail(error: RedisError) -> None:
            self._failed = True
            await fail(error)

        return await super().call_with_retry(do, note_then_fail)

    def take_failure(self) -> bool:
        """Whether a command failed since the last call."""
        failed, self._failed = self._failed, False
        return failed


def redis_settings(redis_url: str | None = None) -> RedisSettings:
    """The worker's Redis connection, made to ride out a Redis restart or outage.

    arq gives up on the first connection error of its poll loop and the worker exits; here every
    Redis command is retried (RedisRetry) for as long as Redis is away, so the worker, its cron
    schedule and its running jobs carry on when Redis is back. A worker starting while Redis is
    down waits 30 s before it gives up (and the deployment restarts it).
    """
    url = redis_url or get_settings().redis_url or "redis://127.0.0.1:6379/0"
    return dataclasses.replace(
        RedisSettings.from_dsn(url),
        retry=RedisRetry(),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
        conn_retries=30,
    )


_log = structlog.get_logger(__name__)
POLL_RETRY_SECONDS = 0.5
# The every-minute backstop sweeps, run at once when Redis is back after an outage: they re-create
# the jobs the API could not enqueue meanwhile and those a Redis restarted without its data lost.
CATCH_UP_JOBS = tuple(
    job.name for job in JOB_REGISTRY if job.schedule is not None and job.schedule.minutes is None
)


class ResilientWorker(Worker):
    """An arq worker whose poll loop survives a Redis restart, and which catches up after it.

    The connection retries above cover single commands; a restart in the middle of the poll's
    WATCH (arq's check that no other worker took a job) raises WatchError, which no retry may
    repeat, and arq's loop would end with it. Here that poll is given up and the next one, a
    moment later, starts clean; jobs the lost poll would have started are still queued.

    Once a poll succeeds after any Redis command failed, the backstop sweeps run straight away
    rather than at their next minute: leads taken while Redis was away are assigned, and their
    notifications sent, within seconds of its return.
    """

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
            await self._catch_up_after_an_outage()
        except (WatchError, RedisConnectionError, RedisTimeoutError, OSError) as error:
            _log.warning("worker.poll_interrupted", error=repr(error)[:200])
            await asyncio.sleep(POLL_RETRY_SECONDS)

    async def _catch_up_after_an_outage(self) -> None:
        retry = self.redis_settings.retry if self.redis_settings else None
        if not (isinstance(retry, RedisRetry) and retry.take_failure()):
            return
        # Workers that catch up within the same second share one run of each sweep.
        second = int(time.time())
        for name in CATCH_UP_JOBS:
            await self.pool.enqueue_job(name, _job_id=f"{name}:catch-up:{second}")
        _log.info("worker.catching_up_after_redis_outage", jobs=list(CATCH_UP_JOBS))


def health_check_key() -> str:
    """This host's heartbeat key: with one worker per container, a dead worker is not hidden by a
    live one elsewhere (arq's default key is one per queue)."""
    return f"arq:queue:health-check:{socket.gethostname()}"


HEALTH_CHECK_INTERVAL_SECONDS = 30


class WorkerSettings:
    functions: ClassVar[list[Any]] = [job.run for job in JOB_REGISTRY]
    cron_jobs: ClassVar[list[Any]] = [
        cron(job.run, second=job.schedule.second, minute=job.schedule.cron_minutes, unique=True)
        for job in JOB_REGISTRY
        if job.schedule is not None
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    health_check_key = health_check_key()
    health_check_interval = HEALTH_CHECK_INTERVAL_SECONDS
    # Jobs are idempotent and retried by the sweeps, so a job cut short by a restart is re-run.
    max_tries = 5
    poll_delay = get_settings().worker_poll_delay
