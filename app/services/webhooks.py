"""Webhooks: integrators subscribe to event types; each outbox event becomes one delivery per
matching subscription, sent signed (Standard Webhooks), retried with backoff for up to a day,
dead-lettered, logged, and replayable. A receiver answering 410 ends its subscription.

Sending happens outside any transaction: a run leases due deliveries (commit), sends them, and
records each outcome in its own short transaction, so a slow receiver holds no row lock.
"""

from __future__ import annotations

import base64
import os
import random
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.channels import MAX_ATTEMPTS, Outcome, retry_delay
from app.domain.errors import Conflict, FieldError, InvalidInput, NotFound
from app.domain.models import DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookSubscription
from app.domain.principal import Principal
from app.services import audit
from app.services.channel_delivery import ChannelClient, check_url
from app.services.common import check_version, get_visible, insert_unless_conflict
from app.services.jobs import JobQueue, JobRequest, enqueue_after_commit
from app.services.pagination import Page, SortOrder, paginate
from app.services.unit_of_work import session_scope

DELIVER_JOB = "deliver_webhooks"
DELIVERY_BATCH = 20
# A leased delivery is invisible to other runs this long; a run killed mid-send leaves it to the next.
LEASE = timedelta(minutes=5)
ALL_EVENTS = "*"
_random = random.Random()  # noqa: S311 - retry jitter needs no cryptographic randomness


def deliver_job() -> JobRequest:
    return JobRequest(DELIVER_JOB, job_id="webhooks", batch_seconds=0.2)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


async def _check(url: str, allow_private: bool) -> None:
    try:
        await check_url(url, allow_private=allow_private)
    except OSError as exc:
        raise InvalidInput(
            "The webhook's host name does not resolve.",
            code="webhook.destination_refused",
            errors=[FieldError("url", "unresolvable", str(exc)[:200])],
        ) from exc


async def create_subscription(
    session: AsyncSession, *, actor: Principal, url: str, event_types: Sequence[str], allow_private: bool
) -> WebhookSubscription:
    """The secret is answered once, here; the URL must pass the SSRF check now and at each send."""
    await _check(url, allow_private)
    subscription = WebhookSubscription(
        organization_id=actor.organization_id,
        url=url,
        event_types=list(dict.fromkeys(event_types)),
        secret=new_secret(),
    )
    session.add(subscription)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="webhook.created",
        entity_type="webhook",
        entity_id=subscription.id,
        after={"url": url, "event_types": subscription.event_types},
    )
    return subscription


async def get_subscription(
    session: AsyncSession, *, actor: Principal, subscription_id: uuid.UUID, for_update: bool = False
) -> WebhookSubscription:
    return await get_visible(
        session, WebhookSubscription, subscription_id, actor=actor, for_update=for_update
    )


async def list_subscriptions(
    session: AsyncSession, *, actor: Principal, limit: int, cursor: str | None
) -> Page[WebhookSubscription]:
    return await paginate(
        session,
        select(WebhookSubscription).where(WebhookSubscription.organization_id == actor.organization_id),
        sort_column=WebhookSubscription.created_at,
        id_column=WebhookSubscription.id,
        order=SortOrder("created_at", descending=False),
        limit=limit,
        cursor=cursor,
    )


async def update_subscription(
    session: AsyncSession,
    *,
    actor: Principal,
    subscription_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
    allow_private: bool,
) -> WebhookSubscription:
    subscription = await get_subscription(
        session, actor=actor, subscription_id=subscription_id, for_update=True
    )
    check_version(subscription, expected_version)
    if "url" in changes:
        await _check(changes["url"], allow_private)
    before = {
        "url": subscription.url,
        "event_types": subscription.event_types,
        "is_active": subscription.is_active,
    }
    for name, value in changes.items():
        setattr(subscription, name, list(dict.fromkeys(value)) if name == "event_types" else value)
    if changes.get("is_active"):
        subscription.disabled_reason = None
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="webhook.updated",
        entity_type="webhook",
        entity_id=subscription.id,
        before=before,
        after={
            "url": subscription.url,
            "event_types": subscription.event_types,
            "is_active": subscription.is_active,
        },
    )
    return subscription


async def delete_subscription(session: AsyncSession, *, actor: Principal, subscription_id: uuid.UUID) -> None:
    subscription = await get_subscription(
        session, actor=actor, subscription_id=subscription_id, for_update=True
    )
    await session.delete(subscription)
    await audit.record_audit(
        session,
        actor=actor,
        action="webhook.deleted",
        entity_type="webhook",
        entity_id=subscription_id,
        before={"url": subscription.url},
    )


async def list_deliveries(
    session: AsyncSession, *, actor: Principal, subscription_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[WebhookDelivery]:
    subscription = await get_subscription(session, actor=actor, subscription_id=subscription_id)
    return await paginate(
        session,
        select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id),
        sort_column=WebhookDelivery.created_at,
        id_column=WebhookDelivery.id,
        order=SortOrder("created_at", descending=True),
        limit=limit,
        cursor=cursor,
    )


async def replay_delivery(
    session: AsyncSession,
    *,
    actor: Principal,
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
    now: datetime,
) -> WebhookDelivery:
    """Sends a delivery again (same webhook-id, so the receiver can tell a replay from a new event)."""
    subscription = await get_subscription(session, actor=actor, subscription_id=subscription_id)
    delivery = await session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.subscription_id == subscription.id)
        .with_for_update()
    )
    if delivery is None:
        raise NotFound(f"Delivery {delivery_id} was not found.", code="webhook_delivery.not_found")
    if not subscription.is_active:
        raise Conflict("The subscription is disabled; enable it first.", code="webhook.disabled")
    delivery.status = DeliveryStatus.pending
    delivery.attempts = 0
    delivery.next_attempt_at = now
    await session.flush()
    enqueue_after_commit(session, deliver_job())
    return delivery


async def fan_out(session: AsyncSession, events: Sequence[OutboxEvent]) -> int:
    """One pending delivery per event and matching active subscription (once, by the unique key)."""
    organizations = {event.organization_id for event in events}
    if not organizations:
        return 0
    subscriptions = (
        await session.scalars(
            select(WebhookSubscription).where(
                WebhookSubscription.organization_id.in_(organizations),
                WebhookSubscription.is_active.is_(True),
            )
        )
    ).all()
    created = 0
    for event in events:
        for subscription in subscriptions:
            if subscription.organization_id != event.organization_id:
                continue
            if ALL_EVENTS not in subscription.event_types and event.topic not in subscription.event_types:
                continue
            payload = {k: v for k, v in event.payload.items() if k != "notify_user_ids"}
            inserted = await session.scalar(
                insert_unless_conflict(session, WebhookDelivery)
                .values(
                    id=uuid.uuid4(),
                    organization_id=event.organization_id,
                    subscription_id=subscription.id,
                    event_id=event.id,
                    event_type=event.topic,
                    payload=payload,
                    status=DeliveryStatus.pending,
                    attempts=0,
                    next_attempt_at=event.created_at,
                    created_at=event.created_at,
                )
                .returning(WebhookDelivery.id)
            )
            created += inserted is not None
    if created:
        enqueue_after_commit(session, deliver_job())
    return created


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: JobQueue,
    client: ChannelClient,
    clock: Callable[[], datetime],
) -> int:
    """Sends one batch of due deliveries; returns how many were attempted."""
    async with session_scope(sessionmaker, queue) as session:
        now = clock()
        due = (
            await session.scalars(
                select(WebhookDelivery)
                .where(
                    WebhookDelivery.status == DeliveryStatus.pending, WebhookDelivery.next_attempt_at <= now
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(DELIVERY_BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        leased = []
        for delivery in due:
            delivery.attempts += 1
            delivery.next_attempt_at = now + LEASE
            subscription = await session.get_one(WebhookSubscription, delivery.subscription_id)
            leased.append(
                (delivery.id, delivery.event_id, delivery.event_type, delivery.payload, subscription)
            )
    for delivery_id, event_id, event_type, payload, subscription in leased:
        result = await client.send_webhook(
            subscription.url, subscription.secret, str(event_id), event_type, payload, clock()
        )
        async with session_scope(sessionmaker, queue) as session:
            await _record(session, delivery_id, result, clock())
    return len(leased)


async def _record(session: AsyncSession, delivery_id: uuid.UUID, result: Any, now: datetime) -> None:
    delivery = await session.get_one(WebhookDelivery, delivery_id, with_for_update=True)
    delivery.last_status_code = result.status_code
    delivery.last_error = (result.error or "")[:500] or None
    delivery.response_excerpt = result.response_excerpt
    delivery.duration_ms = result.duration_ms
    if result.outcome is Outcome.delivered:
        delivery.status, delivery.delivered_at = DeliveryStatus.delivered, now
    elif result.outcome is Outcome.gone:
        delivery.status = DeliveryStatus.gone
        subscription = await session.get_one(
            WebhookSubscription, delivery.subscription_id, with_for_update=True
        )
        subscription.is_active = False
        subscription.disabled_reason = f"the receiver answered 410 Gone at {now.isoformat()}"
    elif result.outcome is Outcome.retry and delivery.attempts < MAX_ATTEMPTS:
        delivery.next_attempt_at = now + retry_delay(delivery.attempts, rng=_random)
    else:
        delivery.status = DeliveryStatus.dead
