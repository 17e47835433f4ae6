"""Deliveries of outbox events to webhook subscriptions and notification channels: each event becomes
one delivery per matching destination, sent with retries and backoff for up to a day, dead-lettered,
logged and replayable. A receiver answering 410 disables its destination.

Sending happens outside any transaction: a run leases due deliveries (commit), sends them, and
records each outcome in its own short transaction, so a slow receiver holds no row lock.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.models import (
    Delivery,
    DeliveryStatus,
    NotificationChannel,
    Organization,
    OutboxEvent,
    User,
    WebhookSubscription,
)
from app.domain.notifications.channels import (
    ALL_EVENTS,
    MAX_ATTEMPTS,
    ChannelKind,
    Outcome,
    audience_of,
    retry_delay,
)
from app.domain.notifications.notifications import MESSAGE_TOPICS, render_message
from app.domain.platform.errors import Conflict, NotFound
from app.services.notifications.channel_delivery import ChannelClient, DeliveryResult, WebhookMessage
from app.services.platform import bulk
from app.services.platform.jobs import JobName, JobQueue, JobRequest, enqueue_after_commit
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page, SortOrder, paginate
from app.services.platform.unit_of_work import session_scope

log = structlog.get_logger(__name__)

DELIVERY_BATCH = 20
# A leased delivery is invisible to other runs this long; a run killed mid-send leaves it to the next.
LEASE = timedelta(minutes=5)
_random = random.Random()  # noqa: S311 - retry jitter needs no cryptographic randomness

Destination = WebhookSubscription | NotificationChannel
_D = TypeVar("_D", WebhookSubscription, NotificationChannel)
Send = Callable[[ChannelClient, datetime], Awaitable[DeliveryResult]]


def deliver_job() -> JobRequest:
    return JobRequest(JobName.send_deliveries, job_id="deliveries", batch_seconds=0.2)


def _wants(destination: Destination, topic: str) -> bool:
    if isinstance(destination, NotificationChannel) and topic not in MESSAGE_TOPICS:
        return False  # a "*" channel posts what has a message; the rest is for integrators
    return ALL_EVENTS in destination.event_types or topic in destination.event_types


def _destination_column(destination: Destination) -> Any:
    if isinstance(destination, WebhookSubscription):
        return Delivery.subscription_id
    return Delivery.channel_id


async def fan_out(session: AsyncSession, events: Sequence[OutboxEvent]) -> int:
    """One pending delivery per event and matching active destination (once, by the unique keys)."""
    organizations = {event.organization_id for event in events}
    if not organizations:
        return 0
    destinations: list[Destination] = [
        *await _active(session, WebhookSubscription, organizations),
        *await _active(session, NotificationChannel, organizations),
    ]
    rows = []
    for event in events:
        for destination in destinations:
            if destination.organization_id != event.organization_id or not _wants(destination, event.topic):
                continue
            # Webhooks get the business data only; a WeCom application message goes to the event's
            # notify_user_ids, so a channel keeps them.
            webhook = isinstance(destination, WebhookSubscription)
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "organization_id": event.organization_id,
                    "subscription_id": destination.id if webhook else None,
                    "channel_id": None if webhook else destination.id,
                    "event_id": event.id,
                    "event_type": event.topic,
                    "payload": (
                        {k: v for k, v in event.payload.items() if k != "notify_user_ids"}
                        if webhook
                        else event.payload
                    ),
                    "sequence": None,
                    "status": DeliveryStatus.pending,
                    "attempts": 0,
                    "next_attempt_at": event.created_at,
                    "created_at": event.created_at,
                }
            )
    await _number_webhook_messages(session, rows)
    deliveries = bulk.table_of(Delivery)
    created = len(
        await bulk.insert_rows(session, deliveries, rows, returning=(deliveries.c.id,), skip_conflicts=True)
    )
    if created:
        enqueue_after_commit(session, deliver_job())
    return created


async def _number_webhook_messages(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Each subscription's messages get consecutive numbers, taken from its counter by one atomic
    UPDATE, so concurrent dispatchers never hand out a number twice. A delivery that already
    existed (an event dispatched again) is not inserted, and leaves a gap in the numbers."""
    by_subscription: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["subscription_id"] is not None:
            by_subscription[row["subscription_id"]].append(row)
    for subscription_id, messages in by_subscription.items():
        last = await session.scalar(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == subscription_id)
            .values(last_sequence=WebhookSubscription.last_sequence + len(messages))
            .returning(WebhookSubscription.last_sequence)
        )
        first = int(last or 0) - len(messages) + 1
        for number, row in enumerate(messages, start=first):
            row["sequence"] = number


async def _active(session: AsyncSession, model: type[_D], organizations: set[uuid.UUID]) -> Sequence[_D]:
    statement = select(model).where(model.organization_id.in_(organizations), model.is_active.is_(True))
    return (await session.scalars(statement)).all()


async def list_deliveries(
    session: AsyncSession,
    *,
    destination: Destination,
    limit: int,
    cursor: str | None,
    options: ListOptions = NO_OPTIONS,
) -> Page[Delivery]:
    return await paginate(
        session,
        select(Delivery).where(_destination_column(destination) == destination.id),
        sort_column=Delivery.created_at,
        id_column=Delivery.id,
        order=SortOrder("created_at", descending=True),
        limit=limit,
        cursor=cursor,
        options=options,
    )


async def replay_delivery(
    session: AsyncSession, *, destination: Destination, delivery_id: uuid.UUID, now: datetime, noun: str
) -> Delivery:
    """Sends a delivery again, with the same event id. `noun` names the destination in error codes."""
    delivery = await session.scalar(
        select(Delivery)
        .where(Delivery.id == delivery_id, _destination_column(destination) == destination.id)
        .with_for_update()
    )
    if delivery is None:
        raise NotFound(f"Delivery {delivery_id} was not found.", code=f"{noun}_delivery.not_found")
    if not destination.is_active:
        raise Conflict(f"The {noun.replace('_', ' ')} is disabled; enable it first.", code=f"{noun}.disabled")
    delivery.status = DeliveryStatus.pending
    delivery.attempts = 0
    delivery.next_attempt_at = now
    await session.flush()
    enqueue_after_commit(session, deliver_job())
    return delivery


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
                select(Delivery)
                .where(Delivery.status == DeliveryStatus.pending, Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at)
                .limit(DELIVERY_BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        leased: list[tuple[uuid.UUID, Send]] = []
        for delivery in due:
            delivery.attempts += 1
            delivery.next_attempt_at = now + LEASE
            leased.append((delivery.id, await _prepare(session, delivery, now)))
    for delivery_id, send in leased:
        result = await send(client, clock())
        async with session_scope(sessionmaker, queue) as session:
            await _record(session, delivery_id, result, clock())
    return len(leased)


async def _prepare(session: AsyncSession, delivery: Delivery, now: datetime) -> Send:
    """What sending this delivery takes, read while its lease is taken: the send runs after commit."""
    event_id, event_type, payload = str(delivery.event_id), delivery.event_type, dict(delivery.payload)
    if delivery.subscription_id is not None:
        subscription = await session.get_one(WebhookSubscription, delivery.subscription_id)
        url, secrets = subscription.url, signing_secrets(subscription, now)
        outgoing = WebhookMessage(event_id, event_type, delivery.created_at, delivery.sequence or 0, payload)
        return lambda client, now: client.send_webhook(url, secrets, outgoing, now)

    assert delivery.channel_id is not None
    channel = await session.get_one(NotificationChannel, delivery.channel_id)
    kind, config = channel.kind, dict(channel.config)
    organization = await session.get_one(Organization, delivery.organization_id)
    message = render_message(
        event_type,
        payload,
        locale=organization.locale,
        timezone=organization.timezone,
        audience=audience_of(kind),
    )
    if message is None:  # the topic lost its text since the delivery was written
        return _skip(f"no message exists for {event_type}")
    if kind is ChannelKind.wecom_robot:
        return lambda client, now: client.send_wecom_robot(client.wecom_base_url, config["key"], message)
    if kind is ChannelKind.dingtalk_robot:
        return lambda client, now: client.send_dingtalk(
            client.dingtalk_base_url,
            config["access_token"],
            config.get("secret"),
            message,
            int(now.timestamp() * 1000),
        )
    recipients = await _wecom_userids(session, delivery.organization_id, payload.get("notify_user_ids", []))
    if not recipients:
        return _skip("none of the event's recipients has a WeCom user id (PATCH /users/{id} wecom_userid)")
    return lambda client, now: client.send_wecom_app(
        client.wecom_base_url,
        config["corp_id"],
        config["secret"],
        int(config["agent_id"]),
        recipients,
        message,
    )


def signing_secrets(subscription: WebhookSubscription, now: datetime) -> list[str]:
    """The current secret, and the one a rotation replaced while its overlap lasts."""
    expires_at = subscription.previous_secret_expires_at
    if subscription.previous_secret is None or expires_at is None or expires_at <= now:
        return [subscription.secret]
    return [subscription.secret, subscription.previous_secret]


async def _wecom_userids(session: AsyncSession, organization_id: uuid.UUID, user_ids: list[str]) -> list[str]:
    """The WeCom ids of the active users among `user_ids`, in their order; users without one are left out."""
    if not user_ids:
        return []
    rows = await session.execute(
        select(User.id, User.wecom_userid).where(
            User.organization_id == organization_id,
            User.id.in_([uuid.UUID(str(u)) for u in user_ids]),
            User.is_active.is_(True),
            User.wecom_userid.is_not(None),
        )
    )
    found = {str(user_id): wecom_userid for user_id, wecom_userid in rows.all() if wecom_userid}
    return list(dict.fromkeys(found[str(u)] for u in user_ids if str(u) in found))


def _skip(reason: str) -> Send:
    async def skipped(client: ChannelClient, now: datetime) -> DeliveryResult:
        return DeliveryResult(Outcome.skipped, None, "", 0, reason)

    return skipped


async def _record(
    session: AsyncSession, delivery_id: uuid.UUID, result: DeliveryResult, now: datetime
) -> None:
    delivery = await session.get_one(Delivery, delivery_id, with_for_update=True)
    delivery.last_status_code = result.status_code
    delivery.last_error = (result.error or "")[:500] or None
    delivery.response_excerpt = result.response_excerpt
    delivery.duration_ms = result.duration_ms
    if result.outcome is Outcome.delivered:
        delivery.status, delivery.delivered_at = DeliveryStatus.delivered, now
    elif result.outcome is Outcome.skipped:
        delivery.status = DeliveryStatus.skipped
        log.info(
            "delivery.skipped",
            delivery_id=str(delivery.id),
            channel_id=str(delivery.channel_id),
            event_type=delivery.event_type,
            reason=result.error,
        )
    elif result.outcome is Outcome.gone:
        delivery.status = DeliveryStatus.gone
        destination: Destination = (
            await session.get_one(WebhookSubscription, delivery.subscription_id, with_for_update=True)
            if delivery.subscription_id is not None
            else await session.get_one(NotificationChannel, delivery.channel_id, with_for_update=True)
        )
        destination.is_active = False
        # WeCom's errmsg runs to ~140 characters (hint, caller IP, help link); the reason holds 200.
        answer = "410 Gone" if result.status_code == 410 else (result.error or "")[:120]
        destination.disabled_reason = f"the receiver answered {answer} at {now.isoformat()}"
    elif result.outcome is Outcome.retry and delivery.attempts < MAX_ATTEMPTS:
        delivery.next_attempt_at = now + retry_delay(delivery.attempts, rng=_random)
    else:
        delivery.status = DeliveryStatus.dead
