"""Record side effects in the transaction that causes them, and deliver them after commit."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import Notification, Organization, OutboxEvent, OutboxStatus
from app.domain.notifications import backoff_seconds, render_message
from app.services import deliveries
from app.services.jobs import JobRequest, enqueue_after_commit

log = structlog.get_logger(__name__)

DISPATCH_JOB = "dispatch_outbox"
MAX_ATTEMPTS = 12
BATCH_SIZE = 100
# A dispatch run delivers every due event, so events committed within this window share one run:
# at 100 leads/s that is ten dispatch jobs a second instead of two hundred, for at most this much
# more delay before a notification goes out.
DISPATCH_WINDOW_SECONDS = 0.1


def dispatch_job(event_id: uuid.UUID | None = None) -> JobRequest:
    return JobRequest(
        DISPATCH_JOB,
        job_id=f"outbox:{event_id}" if event_id else None,
        batch_seconds=DISPATCH_WINDOW_SECONDS if event_id else None,
    )


async def record_event(
    session: AsyncSession, *, organization_id: uuid.UUID, topic: str, payload: dict[str, Any]
) -> OutboxEvent:
    """`payload["notify_user_ids"]` names the users who get an in-app notification."""
    # The id is given here rather than at flush, so the event waits for the transaction's one flush.
    event = OutboxEvent(id=uuid.uuid4(), organization_id=organization_id, topic=topic, payload=payload)
    session.add(event)
    enqueue_after_commit(session, dispatch_job(event.id))
    return event


async def dispatch_due_events(session: AsyncSession, *, now: datetime, limit: int = BATCH_SIZE) -> int:
    """Deliver pending events whose time has come; returns how many were delivered.

    Rows are locked with SKIP LOCKED, so concurrent dispatchers share the work and never deliver
    one event twice; the unique key on notification guards the same on SQLite.
    """
    events = (
        await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.status == OutboxStatus.pending, OutboxEvent.next_attempt_at <= now)
            .order_by(OutboxEvent.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    await deliveries.fan_out(session, events)
    delivered = 0
    for event in events:
        if not event.payload.get("notify_user_ids"):
            _mark_delivered(event, now)  # no in-app recipients; webhooks and channels were fanned out above
            delivered += 1
            continue
        try:
            async with session.begin_nested():
                await _deliver(session, event)
        except Exception as exc:
            _schedule_retry(event, now=now, error=repr(exc))
            log.warning("outbox.delivery_failed", event_id=str(event.id), topic=event.topic, exc_info=True)
        else:
            _mark_delivered(event, now)
            delivered += 1
    await session.flush()
    return delivered


def _mark_delivered(event: OutboxEvent, now: datetime) -> None:
    event.status = OutboxStatus.delivered
    event.delivered_at = now
    event.attempts += 1


async def has_due_events(session: AsyncSession, *, now: datetime) -> bool:
    found = await session.scalar(
        select(OutboxEvent.id)
        .where(OutboxEvent.status == OutboxStatus.pending, OutboxEvent.next_attempt_at <= now)
        .limit(1)
    )
    return found is not None


def _schedule_retry(event: OutboxEvent, *, now: datetime, error: str) -> None:
    event.attempts += 1
    event.last_error = error[:2000]
    if event.attempts >= MAX_ATTEMPTS:
        event.status = OutboxStatus.dead
    else:
        event.next_attempt_at = now + timedelta(seconds=backoff_seconds(event.attempts))


async def _deliver(session: AsyncSession, event: OutboxEvent) -> None:
    recipients = [uuid.UUID(str(u)) for u in event.payload.get("notify_user_ids", [])]
    if not recipients:
        return
    organization = await session.get_one(Organization, event.organization_id)
    message = render_message(event.topic, event.payload, locale=organization.locale)
    if message is None:
        return
    already = set(
        (
            await session.scalars(
                select(Notification.user_id).where(
                    Notification.organization_id == event.organization_id, Notification.event_id == event.id
                )
            )
        ).all()
    )
    for user_id in recipients:
        if user_id in already:
            continue
        session.add(
            Notification(
                organization_id=event.organization_id,
                user_id=user_id,
                event_id=event.id,
                topic=event.topic,
                title=message.title,
                body=message.body,
                data={k: v for k, v in event.payload.items() if k != "notify_user_ids"},
            )
        )
    await session.flush()
