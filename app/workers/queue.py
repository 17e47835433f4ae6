"""The two JobQueue adapters: arq on Redis, and an in-process runner for a single small install."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from arq import ArqRedis

from app.metrics import JOBS
from app.services.platform.jobs import JobName, JobRequest
from app.workers.jobs import JOB_FUNCTIONS, JobContext, Pacing

log = structlog.get_logger(__name__)


class ArqQueue:
    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis
        # The batched job this process last enqueued, per function: a request for the same window
        # is already served by it, and saves a round trip to Redis.
        self._last_batch: dict[str, str] = {}

    @classmethod
    async def connect(cls, redis_url: str) -> ArqQueue:
        # Connects lazily (unlike arq's create_pool, which retries and then fails): the API starts
        # while Redis is down, answers 503 on /readyz, and the outbox keeps the work meanwhile.
        return cls(ArqRedis.from_url(redis_url))

    async def enqueue(self, job: JobRequest) -> None:
        job_id, defer_until = job.job_id, job.defer_until
        if job.batch_seconds is not None:
            # One job per window, started when the window closes. The window is taken now, after
            # the commit, so the run starts after every commit whose request it absorbed.
            window_end = math.ceil(time.time() / job.batch_seconds) * job.batch_seconds
            job_id = f"{job.function}:batch:{window_end:.3f}"
            if self._last_batch.get(job.function) == job_id:
                return
            self._last_batch[job.function] = job_id
            defer_until = datetime.fromtimestamp(window_end, UTC)
        await self.redis.enqueue_job(job.function, *job.args, _job_id=job_id, _defer_until=defer_until)

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self.redis.aclose()


class InlineQueue:
    """Runs jobs as tasks of this process, with the same functions and context the arq worker uses.

    Without Redis nothing survives a restart but the outbox and timers in the database, which the
    periodic sweeps pick up again; that is why every job is also reachable from a sweep.
    """

    def __init__(
        self,
        context_factory: Callable[[InlineQueue], JobContext],
        clock: Callable[[], datetime],
        pacing: Pacing | None = None,
    ) -> None:
        # Paced by default: the process running these jobs is serving requests too.
        self._context = {**context_factory(self), "pacing": pacing or Pacing()}
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._anonymous: set[asyncio.Task[Any]] = set()
        self._rerun: set[str | None] = set()

    async def enqueue(self, job: JobRequest) -> None:
        if job.defer_until is not None and job.defer_until > self._clock():
            # Held for hours or days, a deferred job would outlive this process anyway; every job
            # that is deferred is also reached by a periodic sweep, which runs it within a minute.
            return
        if job.batch_seconds is not None:
            # One run of a batched job at a time: a request made while it runs asks for one more
            # run, which sees whatever the running one may have missed.
            job = JobRequest(job.function, job.args, job_id=f"{job.function}:batch")
            if job.job_id in self._tasks:
                self._rerun.add(job.job_id)
                return
        if job.job_id is not None and job.job_id in self._tasks:
            return
        task = asyncio.create_task(self._run(job))
        if job.job_id is not None:
            job_id = job.job_id
            self._tasks[job_id] = task
            task.add_done_callback(lambda _done: self._tasks.pop(job_id, None))
        else:
            self._anonymous.add(task)
            task.add_done_callback(self._anonymous.discard)

    async def _run(self, job: JobRequest) -> None:
        while True:
            self._rerun.discard(job.job_id)
            try:
                await JOB_FUNCTIONS[job.function](self._context, *job.args)
            except Exception:
                JOBS.labels(job.function, "error").inc()
                log.exception("job.failed", job=job.function, job_id=job.job_id)
            if job.job_id not in self._rerun:
                return

    async def ping(self) -> bool:
        return True

    async def drain(self) -> None:
        """Wait until every job enqueued so far has run; used by tests and shutdown."""
        while self._tasks or self._anonymous:
            await asyncio.gather(*self._tasks.values(), *self._anonymous, return_exceptions=True)

    async def run_periodically(self, function: JobName, every_seconds: float) -> None:
        while True:
            await asyncio.sleep(every_seconds)
            await self.enqueue(JobRequest(function, job_id=f"cron:{function}"))

    async def close(self, grace_seconds: float = 10) -> None:
        """Lets running jobs finish (a job cancelled inside its transaction could leave SQLite
        locked for the next process), then cancels what is still running after the grace time."""
        running = [*self._tasks.values(), *self._anonymous]
        if running:
            await asyncio.wait(running, timeout=grace_seconds)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
