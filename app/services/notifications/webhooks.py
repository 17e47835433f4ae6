"""Webhooks: integrators subscribe to event types; each outbox event becomes one delivery per
matching subscription (app/services/notifications/deliveries.py), sent signed per Standard Webhooks.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import Delivery, WebhookSubscription
from app.domain.notifications.channels import check_webhook_event_types
from app.domain.platform.errors import FieldError, InvalidInput
from app.services.notifications import deliveries
from app.services.notifications.channel_delivery import check_url
from app.services.platform import audit
from app.services.platform.common import OrganizationList, check_version, get_visible
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page


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
    check_webhook_event_types(event_types)
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


async def rotate_secret(
    session: AsyncSession,
    *,
    actor: Principal,
    subscription_id: uuid.UUID,
    overlap: timedelta,
    now: datetime,
) -> WebhookSubscription:
    """A new secret, answered once; the one it replaces still signs until `now + overlap`, so the
    receiver can switch without refusing a message. Rotating again replaces that earlier secret."""
    subscription = await get_subscription(
        session, actor=actor, subscription_id=subscription_id, for_update=True
    )
    has_overlap = overlap > timedelta(0)
    subscription.previous_secret = subscription.secret if has_overlap else None
    subscription.previous_secret_expires_at = now + overlap if has_overlap else None
    subscription.secret = new_secret()
    await session.flush()
    expires_at = subscription.previous_secret_expires_at
    await audit.record_audit(
        session,
        actor=actor,
        action="webhook.secret_rotated",
        entity_type="webhook",
        entity_id=subscription.id,
        after={"previous_secret_expires_at": expires_at.isoformat() if expires_at else None},
    )
    return subscription


async def get_subscription(
    session: AsyncSession, *, actor: Principal, subscription_id: uuid.UUID, for_update: bool = False
) -> WebhookSubscription:
    return await get_visible(
        session, WebhookSubscription, subscription_id, actor=actor, for_update=for_update
    )


_WEBHOOK_SORTABLE = {
    "created_at": WebhookSubscription.created_at,
    "updated_at": WebhookSubscription.updated_at,
}
list_subscriptions = OrganizationList(WebhookSubscription, _WEBHOOK_SORTABLE, default_sort="created_at")


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
    if "event_types" in changes:
        check_webhook_event_types(changes["event_types"])
    if "url" in changes:
        await _check(changes["url"], allow_private)
    check_version(subscription, expected_version)
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
    session: AsyncSession,
    *,
    actor: Principal,
    subscription_id: uuid.UUID,
    limit: int,
    cursor: str | None,
    options: ListOptions = NO_OPTIONS,
) -> Page[Delivery]:
    subscription = await get_subscription(session, actor=actor, subscription_id=subscription_id)
    return await deliveries.list_deliveries(
        session, destination=subscription, limit=limit, cursor=cursor, options=options
    )


async def replay_delivery(
    session: AsyncSession,
    *,
    actor: Principal,
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
    now: datetime,
) -> Delivery:
    """Sends a delivery again (same webhook-id, so the receiver can tell a replay from a new event)."""
    subscription = await get_subscription(session, actor=actor, subscription_id=subscription_id)
    return await deliveries.replay_delivery(
        session, destination=subscription, delivery_id=delivery_id, now=now, noun="webhook"
    )
