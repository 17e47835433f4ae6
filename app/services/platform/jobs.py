"""Jobs requested by a use case, handed to the queue only once its transaction has committed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

_PENDING_JOBS = "jobs_after_commit"


class JobName(StrEnum):
    """Every job a use case may ask for; app/workers/jobs.py has one function per name (the arq
    job's name is its function's name)."""

    dispatch_outbox = "dispatch_outbox"
    sweep_outbox = "sweep_outbox"
    purge_idempotency_records = "purge_idempotency_records"
    purge_refresh_tokens = "purge_refresh_tokens"
    prune_change_log = "prune_change_log"
    run_import = "run_import"
    resume_imports = "resume_imports"
    run_export = "run_export"
    resume_exports = "resume_exports"
    assign_waiting_leads = "assign_waiting_leads"
    recycle_leads = "recycle_leads"
    fire_sla_timers = "fire_sla_timers"
    remind_tasks = "remind_tasks"
    send_deliveries = "send_deliveries"
    recompute_customer_health = "recompute_customer_health"
    refresh_customer_health = "refresh_customer_health"
    rescore_leads = "rescore_leads"
    retrain_win_model = "retrain_win_model"
    retrain_win_models = "retrain_win_models"


@dataclass(frozen=True)
class JobRequest:
    """`batch_seconds`: requests made within the same window of this many seconds may be served by
    one run that starts when the window closes (the job must handle everything due, not one item).
    A queue that can batch this way does; the in-process runner runs each request."""

    function: JobName
    args: tuple[Any, ...] = field(default=())
    job_id: str | None = None
    defer_until: datetime | None = None
    batch_seconds: float | None = None


class JobQueue(Protocol):
    """Port implemented by the arq queue and by the in-process runner (app/workers/queue.py)."""

    async def enqueue(self, job: JobRequest) -> None: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def enqueue_after_commit(session: AsyncSession, job: JobRequest) -> None:
    pending: list[JobRequest] = session.info.setdefault(_PENDING_JOBS, [])
    if job not in pending:
        pending.append(job)


def take_jobs_after_commit(session: AsyncSession) -> list[JobRequest]:
    jobs: list[JobRequest] = session.info.pop(_PENDING_JOBS, [])
    return jobs


def discard_jobs_after_commit(session: AsyncSession) -> None:
    session.info.pop(_PENDING_JOBS, None)
