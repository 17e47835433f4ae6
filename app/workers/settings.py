"""arq worker settings; `crm worker` runs them in ResilientWorker, which survives Redis restarts."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from typing import Any, ClassVar

import structlog
from arq import cron
from arq.connections import RedisSettings
from arq.worker import Worker
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

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


def redis_settings(redis_url: str | None = None) -> RedisSettings:
    """The worker's Redis connection, made to ride out a Redis restart or outage.

    arq gives up on the first connection error of its poll loop and the worker exits; here every
    Redis command is retried with backoff (0.1 s doubling to 5 s) for as long as Redis is away, so
    the worker, its cron schedule and its running jobs carry on when Redis is back. A worker
    starting while Redis is down waits 30 s before it gives up (and the deployment restarts it).
    """
    url = redis_url or get_settings().redis_url or "redis://127.0.0.1:6379/0"
    return dataclasses.replace(
        RedisSettings.from_dsn(url),
        retry=Retry(ExponentialBackoff(cap=5, base=0.1), retries=-1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
        conn_retries=30,
    )


_log = structlog.get_logger(__name__)
POLL_RETRY_SECONDS = 0.5


class ResilientWorker(Worker):
    """An arq worker whose poll loop survives a Redis restart.

    The connection retries above cover single commands; a restart in the middle of the poll's
    WATCH (arq's check that no other worker took a job) raises WatchError, which no retry may
    repeat, and arq's loop would end with it. Here that poll is given up and the next one, a
    moment later, starts clean; jobs the lost poll would have started are still queued.
    """

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except (WatchError, RedisConnectionError, RedisTimeoutError, OSError) as error:
            _log.warning("worker.poll_interrupted", error=repr(error)[:200])
            await asyncio.sleep(POLL_RETRY_SECONDS)


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
