"""Delivering the outbox: due events become in-app notifications and deliveries, retried with backoff.

Events are recorded by services/platform/outbox.py in the transaction that causes them; this runs after
commit, in the `dispatch_outbox` job.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import Notification, Organization, OutboxEvent, OutboxStatus
from app.domain.notifications.notifications import backoff_seconds, render_message
from app.services.notifications import deliveries
from app.services.platform import bulk

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 12
BATCH_SIZE = 500


async def dispatch_due_events(session: AsyncSession, *, now: datetime, limit: int = BATCH_SIZE) -> int:
    """Deliver pending events whose time has come; returns how many were delivered.

    Rows are locked with SKIP LOCKED, so concurrent dispatchers share the work and never deliver
    one event twice; the unique key on notification guards the same on SQLite. A batch's in-app
    notifications go in with one INSERT; should that fail (a recipient that no longer exists), the
    batch is delivered event by event, so one bad event is retried alone instead of holding back
    the rest.
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
    if not events:
        return 0
    await deliveries.fan_out(session, events)
    readers = {
        organization_id: (locale, timezone)
        for organization_id, locale, timezone in await session.execute(
            select(Organization.id, Organization.locale, Organization.timezone).where(
                Organization.id.in_({event.organization_id for event in events})
            )
        )
    }
    rows: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for event in events:
        try:
            rows[event.id] = _notifications(event, *readers[event.organization_id], now)
        except Exception as exc:  # a payload its template or recipients cannot be read from
            _fail(event, now, exc)
    renderable = [event for event in events if event.id in rows]
    try:
        async with session.begin_nested():
            await _insert_notifications(session, [row for event in renderable for row in rows[event.id]])
    except DBAPIError:
        log.warning("outbox.batch_failed", events=len(renderable), exc_info=True)
        return await _dispatch_one_by_one(session, renderable, rows, now)
    for event in renderable:
        _mark_delivered(event, now)
    await session.flush()
    return len(renderable)


async def _dispatch_one_by_one(
    session: AsyncSession,
    events: Sequence[OutboxEvent],
    rows: dict[uuid.UUID, list[dict[str, Any]]],
    now: datetime,
) -> int:
    delivered = 0
    for event in events:
        try:
            async with session.begin_nested():
                await _insert_notifications(session, rows[event.id])
        except DBAPIError as exc:
            _fail(event, now, exc)
        else:
            _mark_delivered(event, now)
            delivered += 1
    await session.flush()
    return delivered


def _fail(event: OutboxEvent, now: datetime, error: Exception) -> None:
    _schedule_retry(event, now=now, error=repr(error))
    log.warning("outbox.delivery_failed", event_id=str(event.id), topic=event.topic, exc_info=error)


async def _insert_notifications(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await bulk.insert_rows(session, bulk.table_of(Notification), rows, skip_conflicts=True)


def _notifications(event: OutboxEvent, locale: str, timezone: str, now: datetime) -> list[dict[str, Any]]:
    """The in-app notification rows of an event: one per user it names, if its topic has a text."""
    recipients = dict.fromkeys(uuid.UUID(str(u)) for u in event.payload.get("notify_user_ids", []))
    message = (
        render_message(event.topic, event.payload, locale=locale, timezone=timezone) if recipients else None
    )
    if message is None:
        return []
    data = {k: v for k, v in event.payload.items() if k != "notify_user_ids"}
    return [
        {
            "id": uuid.uuid4(),
            "organization_id": event.organization_id,
            "user_id": user_id,
            "event_id": event.id,
            "topic": event.topic,
            "title": message.title,
            "body": message.body,
            "data": data,
            "created_at": now,
            "read_at": None,
        }
        for user_id in recipients
    ]


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
