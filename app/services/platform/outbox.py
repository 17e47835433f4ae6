"""Record side effects in the transaction that causes them; outbox_dispatch delivers them after commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Selectable, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import OutboxEvent
from app.domain.notifications.events import Event
from app.services.platform import bulk
from app.services.platform.jobs import JobName, JobRequest, enqueue_after_commit

# A dispatch run delivers every due event, so events committed within this window share one run:
# at 100 leads/s that is ten dispatch jobs a second instead of two hundred, for at most this much
# more delay before a notification goes out.
DISPATCH_WINDOW_SECONDS = 0.1


def dispatch_job(event_id: uuid.UUID | None = None) -> JobRequest:
    return JobRequest(
        JobName.dispatch_outbox,
        job_id=f"outbox:{event_id}" if event_id else None,
        batch_seconds=DISPATCH_WINDOW_SECONDS if event_id else None,
    )


def record(session: AsyncSession, *, organization_id: uuid.UUID, event: Event) -> OutboxEvent:
    """The event goes out after the transaction commits, and only if it does."""
    # The id is given here rather than at flush, so the event waits for the transaction's one flush.
    row = OutboxEvent(
        id=uuid.uuid4(), organization_id=organization_id, topic=event.topic, payload=event.payload()
    )
    session.add(row)
    enqueue_after_commit(session, dispatch_job(row.id))
    return row


def record_many(session: AsyncSession, *, organization_id: uuid.UUID, events: Sequence[Event]) -> None:
    """Many events, from a change made set-based; one dispatch run delivers them."""
    if not events:
        return
    session.add_all(
        OutboxEvent(
            id=uuid.uuid4(), organization_id=organization_id, topic=event.topic, payload=event.payload()
        )
        for event in events
    )
    enqueue_after_commit(session, dispatch_job())


async def record_batch(
    session: AsyncSession, *, organization_id: uuid.UUID, events: Sequence[Event], now: datetime
) -> None:
    """Thousands of events from a sweep in one INSERT, stamped with the caller's clock: the ORM's
    unit of work spent ~0.3 ms an event on them (bench/task_reminders.py). One dispatch run
    delivers them."""
    if not events:
        return
    rows = [
        {
            "id": uuid.uuid4(),
            "organization_id": organization_id,
            "topic": event.topic,
            "payload": event.payload(),
            "created_at": now,
            "next_attempt_at": now,
        }
        for event in events
    ]
    await bulk.insert_rows(session, bulk.table_of(OutboxEvent), rows)
    enqueue_after_commit(session, dispatch_job())


async def record_selected(session: AsyncSession, events: Selectable) -> None:
    """Events computed by the database, for changes made set-based in SQL (the SLA sweep): `events`
    selects (id, organization_id, topic, payload, created_at, next_attempt_at), one row an event."""
    columns = ["id", "organization_id", "topic", "payload", "created_at", "next_attempt_at"]
    await session.execute(insert(OutboxEvent).from_select(columns, events))
    enqueue_after_commit(session, dispatch_job())
