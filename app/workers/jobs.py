"""Job functions. Each opens its own transaction and calls a service; arq may run one twice."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from arq.typing import WorkerCoroutine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.metrics import JOBS
from app.services.activities import task_reminders
from app.services.assignment import assignment
from app.services.identity import refresh_tokens
from app.services.imports import imports
from app.services.leads import lead_pool
from app.services.notifications import deliveries, outbox_dispatch
from app.services.platform import change_log, idempotency, outbox
from app.services.platform.jobs import JobName, JobQueue
from app.services.platform.unit_of_work import session_scope
from app.services.reports import exports
from app.services.scores import customer_health, lead_intent, win_probability
from app.services.sla import sla_sweep

JobContext = dict[str, Any]


@dataclass(frozen=True)
class Pacing:
    """How the in-process runner works a backlog: in small batches, each followed by a rest, so the
    requests the same process serves keep their latency. On first start against a large tenant it
    found ~95,000 SLA transitions and ~260,000 notifications due and, working them flat out, made
    requests 1.5-3x slower (issue 23). arq workers run in their own processes, unpaced."""

    batch: int = 200
    busy_share: float = 0.25  # of wall time spent on a backlog, at most

    async def rest(self, busy_seconds: float) -> None:
        await asyncio.sleep(busy_seconds * (1 - self.busy_share) / self.busy_share)


def _batch_size(ctx: JobContext, batch: int) -> int:
    pacing: Pacing | None = ctx.get("pacing")
    return min(batch, pacing.batch) if pacing else batch


async def _rest_after(ctx: JobContext, started: float) -> None:
    pacing: Pacing | None = ctx.get("pacing")
    if pacing:
        await pacing.rest(time.monotonic() - started)


def _deps(ctx: JobContext) -> tuple[async_sessionmaker[AsyncSession], JobQueue, Callable[[], datetime]]:
    return ctx["sessionmaker"], ctx["queue"], ctx["clock"]


async def dispatch_outbox(ctx: JobContext) -> int:
    """Deliver due outbox events, batch after batch, until none is left."""
    sessionmaker, queue, clock = _deps(ctx)
    batch = _batch_size(ctx, outbox_dispatch.BATCH_SIZE)
    total = 0
    while True:
        started = time.monotonic()
        async with session_scope(sessionmaker, queue) as session:
            delivered = await outbox_dispatch.dispatch_due_events(session, now=clock(), limit=batch)
        total += delivered
        if delivered < batch:
            JOBS.labels("dispatch_outbox", "ok").inc()
            return total
        await _rest_after(ctx, started)


async def sweep_outbox(ctx: JobContext) -> bool:
    """Cron backstop: events whose dispatch job was lost (Redis down, worker killed) go out anyway."""
    sessionmaker, queue, clock = _deps(ctx)
    async with session_scope(sessionmaker, queue) as session:
        due = await outbox_dispatch.has_due_events(session, now=clock())
    if due:
        await queue.enqueue(outbox.dispatch_job())
    JOBS.labels("sweep_outbox", "ok").inc()
    return due


async def purge_idempotency_records(ctx: JobContext) -> int:
    sessionmaker, queue, clock = _deps(ctx)
    async with session_scope(sessionmaker, queue) as session:
        purged = await idempotency.purge_expired(session, now=clock())
    JOBS.labels("purge_idempotency_records", "ok").inc()
    return purged


async def purge_refresh_tokens(ctx: JobContext) -> int:
    sessionmaker, queue, clock = _deps(ctx)
    async with session_scope(sessionmaker, queue) as session:
        purged = await refresh_tokens.purge_expired(session, now=clock())
    JOBS.labels("purge_refresh_tokens", "ok").inc()
    return purged


async def prune_change_log(ctx: JobContext) -> int:
    """Hourly: change-feed entries older than the retention go (a cursor that old answers 410)."""
    sessionmaker, queue, clock = _deps(ctx)
    days = ctx.get("change_log_retention_days", change_log.DEFAULT_RETENTION_DAYS)
    async with session_scope(sessionmaker, queue) as session:
        pruned = await change_log.prune(session, now=clock(), retention_days=days)
    JOBS.labels("prune_change_log", "ok").inc()
    return pruned


async def run_import(ctx: JobContext, job_id: str) -> str:
    sessionmaker, queue, clock = _deps(ctx)
    status = await imports.run_import(
        sessionmaker, queue, job_id=uuid.UUID(job_id), clock=clock, storage=ctx["storage"]
    )
    JOBS.labels("run_import", status.value).inc()
    return status.value


async def resume_imports(ctx: JobContext) -> int:
    """Cron backstop: imports whose run was lost (Redis down at upload, restarted without its data,
    or the in-process runner's process gone) are run anyway."""
    sessionmaker, queue, _clock = _deps(ctx)
    async with session_scope(sessionmaker, queue) as session:
        waiting = await imports.waiting_import_jobs(session)
    for job in waiting:
        await queue.enqueue(job)
    JOBS.labels("resume_imports", "ok" if waiting else "noop").inc()
    return len(waiting)


async def run_export(ctx: JobContext, export_id: str) -> str:
    sessionmaker, queue, clock = _deps(ctx)
    status = await exports.run_export(
        sessionmaker,
        queue,
        export_id=uuid.UUID(export_id),
        clock=clock,
        storage=ctx["storage"],
        reader=ctx["list_reader"],
        max_rows=ctx["export_job_max_rows"],
    )
    JOBS.labels("run_export", status.value).inc()
    return status.value


async def resume_exports(ctx: JobContext) -> int:
    """Cron backstop: exports whose run was lost before it began, or whose worker died mid-way (no
    progress for exports.STALE_AFTER), are run again (from the start; failed after three starts)."""
    sessionmaker, queue, clock = _deps(ctx)
    async with session_scope(sessionmaker, queue) as session:
        stale = await exports.stale_exports(session, now=clock())
    for job in stale:
        await queue.enqueue(job)
    JOBS.labels("resume_exports", "ok" if stale else "noop").inc()
    return len(stale)


async def assign_waiting_leads(ctx: JobContext) -> int:
    """Assigns every lead waiting for assignment, a batch per transaction. Enqueued after a lead
    is created (one run serves the leads of a short window) and on a schedule, as the backstop for
    runs lost with Redis and for imported leads. Run twice, the second run finds nothing to do."""
    sessionmaker, queue, clock = _deps(ctx)
    total = 0
    while True:
        started = time.monotonic()
        async with session_scope(sessionmaker, queue) as session:
            assigned = await assignment.assign_waiting_leads(session, now=clock())
        total += len(assigned)
        if len(assigned) < assignment.ASSIGN_BATCH:
            JOBS.labels("assign_waiting_leads", "ok" if total else "noop").inc()
            return total
        await _rest_after(ctx, started)


async def recycle_leads(ctx: JobContext) -> int:
    """Scheduled: leads without effective follow-up go back to the pool, organization by organization."""
    sessionmaker, queue, clock = _deps(ctx)
    async with session_scope(sessionmaker, queue) as session:
        organization_ids = await lead_pool.organization_ids(session)
    total = 0
    for organization_id in organization_ids:
        while True:
            started = time.monotonic()
            async with session_scope(sessionmaker, queue) as session:
                released = await lead_pool.recycle_due_leads(
                    session, organization_id=organization_id, now=clock()
                )
            total += released
            if released < lead_pool.RECYCLE_BATCH:
                break
            await _rest_after(ctx, started)
    JOBS.labels("recycle_leads", "ok").inc()
    return total


async def fire_sla_timers(ctx: JobContext) -> int:
    """Deferred to the second timers come due, and every minute as the backstop: carries out
    everything due, batch after batch, then makes sure the next minute's seconds have their jobs."""
    sessionmaker, queue, clock = _deps(ctx)
    batch = _batch_size(ctx, sla_sweep.SWEEP_BATCH)
    total = 0
    while True:
        started = time.monotonic()
        async with session_scope(sessionmaker, queue) as session:
            swept = await sla_sweep.fire_due_timers(session, now=clock(), limit=batch)
        total += swept.transitions
        if swept.timers < batch:
            break
        await _rest_after(ctx, started)
    async with session_scope(sessionmaker, queue) as session:
        upcoming = await sla_sweep.upcoming_fire_jobs(session, now=clock())
    for job in upcoming:
        await queue.enqueue(job)
    JOBS.labels("fire_sla_timers", "ok").inc()
    return total


async def remind_tasks(ctx: JobContext) -> int:
    """Every minute: task.due and task.overdue for the tasks whose time came, once each, organization
    by organization and batch after batch (a reminder is at most a minute late)."""
    sessionmaker, queue, clock = _deps(ctx)
    async with session_scope(sessionmaker, queue) as session:
        organization_ids = await task_reminders.organizations_with_reminders(session, now=clock())
    batch = _batch_size(ctx, task_reminders.REMINDER_BATCH)
    total = 0
    for organization_id in organization_ids:
        while True:
            started = time.monotonic()
            async with session_scope(sessionmaker, queue) as session:
                run = await task_reminders.send_reminders(
                    session, organization_id=organization_id, now=clock(), limit=batch
                )
            total += run.due + run.overdue
            if not run.full(batch):
                break
            await _rest_after(ctx, started)
    JOBS.labels("remind_tasks", "ok" if total else "noop").inc()
    return total


async def send_deliveries(ctx: JobContext) -> int:
    """Webhook and channel deliveries: after events fan out, and every minute for retries come due."""
    sessionmaker, queue, clock = _deps(ctx)
    total = 0
    while True:
        sent = await deliveries.deliver_due(sessionmaker, queue, ctx["channels"], clock)
        total += sent
        if sent < deliveries.DELIVERY_BATCH:
            JOBS.labels("send_deliveries", "ok").inc()
            return total


async def recompute_customer_health(ctx: JobContext) -> int:
    """Hourly: every customer not yet scored on its organization's current day is scored. So the
    whole base is scored once a night, in the first run after each organization's local midnight;
    the other runs of the day find nothing due, and a run missed (worker down, process restarted)
    is made up by the next.

    Per organization, one statement reads every due customer's facts (streamed on PostgreSQL, in a
    read transaction that locks nothing) and each batch of 10,000 is written in a short transaction
    of its own that locks only the scores that changed, so a rep's activity never waits long for
    the nightly run."""
    sessionmaker, queue, clock = _deps(ctx)
    async with session_scope(sessionmaker, queue) as session:
        organization_ids = await customer_health.organizations_with_customers(session)
    batch = _batch_size(ctx, customer_health.HEALTH_BATCH)
    total = 0
    for organization_id in organization_ids:
        now = clock()
        async with sessionmaker() as reader:
            day = await customer_health.due_day(reader, organization_id, now)
            if not await customer_health.any_due(reader, organization_id, day):
                continue
            batches = customer_health.due_facts(reader, organization_id, day=day, now=now, batch=batch)
            async for rows in batches:
                started = time.monotonic()
                async with session_scope(sessionmaker, queue) as session:
                    run = await customer_health.store_due(
                        session, organization_id=organization_id, rows=rows, now=now
                    )
                total += run.customers
                await _rest_after(ctx, started)
    JOBS.labels("recompute_customer_health", "ok" if total else "noop").inc()
    return total


async def rescore_leads(ctx: JobContext) -> int:
    """Hourly: the open leads of each organization not re-scored on its current local day yet, in
    batches of 5,000, each in a short transaction of its own that writes only the scores that
    changed. So time alone (a temperature cooling, activities leaving the contact window) moves a
    stored score once a night, and a run missed is made up by the next."""
    sessionmaker, queue, clock = _deps(ctx)
    async with session_scope(sessionmaker, queue) as session:
        due = await lead_intent.organizations_due_for_lead_rescore(session, clock())
    batch = _batch_size(ctx, lead_intent.RESCORE_BATCH)
    total = 0
    for organization_id in due:
        now, after = clock(), None
        while True:
            started = time.monotonic()
            async with session_scope(sessionmaker, queue) as session:
                run = await lead_intent.rescore_open_leads(
                    session, organization_id=organization_id, now=now, after=after, batch=batch
                )
                if run.scored < batch:
                    await lead_intent.mark_leads_rescored(session, organization_id, now)
            total += run.scored
            await _rest_after(ctx, started)
            if run.scored < batch:
                break
            after = run.last_id
    JOBS.labels("rescore_leads", "ok" if total else "noop").inc()
    return total


async def refresh_customer_health(ctx: JobContext, organization_id: str, customer_ids: list[str]) -> int:
    """On demand: the customers whose facts changed outside their own transaction (an SLA breach)."""
    sessionmaker, queue, clock = _deps(ctx)
    async with session_scope(sessionmaker, queue) as session:
        run = await customer_health.refresh_customers(
            session,
            organization_id=uuid.UUID(organization_id),
            customer_ids=[uuid.UUID(i) for i in customer_ids],
            now=clock(),
        )
    JOBS.labels("refresh_customer_health", "ok").inc()
    return run.customers


async def retrain_win_model(ctx: JobContext, organization_id: str, cut_on: str | None = None) -> int:
    """On demand (POST /scoring/models/retrain): trains a new model version and re-scores the
    organization's open deals in one transaction; run twice, it stores one more version."""
    sessionmaker, queue, clock = _deps(ctx)
    async with session_scope(sessionmaker, queue) as session:
        model = await win_probability.train_win_model(
            session,
            organization_id=uuid.UUID(organization_id),
            now=clock(),
            cut_on=date.fromisoformat(cut_on) if cut_on else None,
        )
    JOBS.labels("retrain_win_model", "ok" if model and model.model else "noop").inc()
    return model.number if model else 0


async def retrain_win_models(ctx: JobContext) -> int:
    """Hourly: the organizations in their night whose model is a day old are retrained, each in
    its own transaction."""
    sessionmaker, queue, clock = _deps(ctx)
    async with session_scope(sessionmaker, queue) as session:
        due = await win_probability.organizations_due_for_retrain(session, clock())
    for organization_id in due:
        started = time.monotonic()
        await retrain_win_model(ctx, str(organization_id))
        await _rest_after(ctx, started)
    JOBS.labels("retrain_win_models", "ok" if due else "noop").inc()
    return len(due)


@dataclass(frozen=True)
class Schedule:
    """Run at `second` past the minute, in each of `minutes` (every minute when None)."""

    second: int
    minutes: frozenset[int] | None = None

    @property
    def period_seconds(self) -> float:
        """How often the in-process runner repeats it (it keeps the rate, not the clock time)."""
        return 60.0 if self.minutes is None else 3600.0 / len(self.minutes)

    @property
    def cron_minutes(self) -> set[int] | None:
        return set(self.minutes) if self.minutes is not None else None


@dataclass(frozen=True)
class Job:
    run: WorkerCoroutine
    schedule: Schedule | None = None  # the backstop run; every job is also enqueued on demand

    @property
    def name(self) -> JobName:
        # arq names a job by its function; a function without a JobName fails here, at import.
        return JobName(self.run.__qualname__)


JOB_REGISTRY: tuple[Job, ...] = (
    Job(dispatch_outbox),
    Job(sweep_outbox, Schedule(second=0)),
    Job(resume_imports, Schedule(second=10)),
    Job(assign_waiting_leads, Schedule(second=20)),
    Job(fire_sla_timers, Schedule(second=30)),
    Job(send_deliveries, Schedule(second=45)),
    Job(remind_tasks, Schedule(second=25)),
    Job(recycle_leads, Schedule(second=40, minutes=frozenset(range(0, 60, 5)))),
    Job(purge_idempotency_records, Schedule(second=30, minutes=frozenset({17}))),
    Job(purge_refresh_tokens, Schedule(second=35, minutes=frozenset({47}))),
    Job(prune_change_log, Schedule(second=40, minutes=frozenset({53}))),
    Job(recompute_customer_health, Schedule(second=50, minutes=frozenset({5}))),
    Job(refresh_customer_health),
    Job(rescore_leads, Schedule(second=55, minutes=frozenset({41}))),
    Job(run_import),
    Job(run_export),
    Job(resume_exports, Schedule(second=15)),
    Job(retrain_win_model),
    Job(retrain_win_models, Schedule(second=50, minutes=frozenset({23}))),
)
"""The job registry: the arq worker's functions and cron list, the in-process runner's functions
and schedule all derive from it."""

JOB_FUNCTIONS: dict[JobName, Callable[..., Awaitable[Any]]] = {job.name: job.run for job in JOB_REGISTRY}
