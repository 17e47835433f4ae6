"""One transaction per request or job: commit, then hand requested jobs to the queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.services.platform.jobs import JobQueue, discard_jobs_after_commit, take_jobs_after_commit

log = structlog.get_logger(__name__)


async def commit(session: AsyncSession, queue: JobQueue) -> None:
    await session.commit()
    for job in take_jobs_after_commit(session):
        try:
            await queue.enqueue(job)
        except Exception:
            # The work is already durable (outbox rows, timers); the sweeper enqueues it again.
            log.warning("job.enqueue_failed", job=job.function, job_id=job.job_id, exc_info=True)


async def rollback(session: AsyncSession) -> None:
    discard_jobs_after_commit(session)
    await session.rollback()


@asynccontextmanager
async def session_scope(
    sessionmaker: async_sessionmaker[AsyncSession], queue: JobQueue
) -> AsyncIterator[AsyncSession]:
    """The session of a job or CLI command: committed when the block ends, rolled back on error."""
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await rollback(session)
            raise
        await commit(session, queue)
