"""Notification channels: WeCom group robots, WeCom application messages and DingTalk robots that an
organization posts its events to, in its language. Deliveries are shared with webhooks
(app/services/notifications/deliveries.py); the secrets in a channel's config are written and never answered.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import Delivery, NotificationChannel
from app.domain.notifications.channels import ChannelKind, check_channel_event_types, public_config
from app.domain.platform.errors import FieldError, InvalidInput
from app.services.notifications import deliveries
from app.services.platform import audit
from app.services.platform.common import OrganizationList, check_version, get_visible
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page


def _audited(channel: NotificationChannel) -> dict[str, Any]:
    return {
        "name": channel.name,
        "kind": channel.kind.value,
        "event_types": channel.event_types,
        "config": public_config(channel.kind, channel.config),
        "is_active": channel.is_active,
    }


async def create_channel(
    session: AsyncSession,
    *,
    actor: Principal,
    name: str,
    kind: ChannelKind,
    config: dict[str, Any],
    event_types: Sequence[str],
) -> NotificationChannel:
    check_channel_event_types(event_types)
    channel = NotificationChannel(
        organization_id=actor.organization_id,
        name=name,
        kind=kind,
        config=config,
        event_types=list(dict.fromkeys(event_types)),
    )
    session.add(channel)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="notification_channel.created",
        entity_type="notification_channel",
        entity_id=channel.id,
        after=_audited(channel),
    )
    return channel


async def get_channel(
    session: AsyncSession, *, actor: Principal, channel_id: uuid.UUID, for_update: bool = False
) -> NotificationChannel:
    return await get_visible(session, NotificationChannel, channel_id, actor=actor, for_update=for_update)


_CHANNEL_SORTABLE = {
    "created_at": NotificationChannel.created_at,
    "updated_at": NotificationChannel.updated_at,
}
list_channels = OrganizationList(NotificationChannel, _CHANNEL_SORTABLE, default_sort="created_at")


async def update_channel(
    session: AsyncSession,
    *,
    actor: Principal,
    channel_id: uuid.UUID,
    changes: dict[str, Any],
    config: tuple[ChannelKind, dict[str, Any]] | None,
    expected_version: int | None,
) -> NotificationChannel:
    """`config` replaces the whole configuration, secrets included (they cannot be read back to resend);
    it must be of the channel's kind, which never changes."""
    channel = await get_channel(session, actor=actor, channel_id=channel_id, for_update=True)
    if "event_types" in changes:
        check_channel_event_types(changes["event_types"])
        changes["event_types"] = list(dict.fromkeys(changes["event_types"]))
    if config is not None:
        config_kind, new_config = config
        if config_kind is not channel.kind:
            raise InvalidInput(
                f"The channel is a {channel.kind.value}; its config cannot be a {config_kind.value}'s.",
                code="notification_channel.config_kind_mismatch",
                errors=[FieldError("config", "kind_mismatch", f"expected a {channel.kind.value} config")],
            )
        changes["config"] = new_config
    check_version(channel, expected_version)
    before = _audited(channel)
    for name, value in changes.items():
        setattr(channel, name, value)
    if changes.get("is_active"):
        channel.disabled_reason = None
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="notification_channel.updated",
        entity_type="notification_channel",
        entity_id=channel.id,
        before=before,
        after={**_audited(channel), **({"config_replaced": True} if config is not None else {})},
    )
    return channel


async def delete_channel(session: AsyncSession, *, actor: Principal, channel_id: uuid.UUID) -> None:
    channel = await get_channel(session, actor=actor, channel_id=channel_id, for_update=True)
    await session.delete(channel)
    await audit.record_audit(
        session,
        actor=actor,
        action="notification_channel.deleted",
        entity_type="notification_channel",
        entity_id=channel_id,
        before={"name": channel.name, "kind": channel.kind.value},
    )


async def list_deliveries(
    session: AsyncSession,
    *,
    actor: Principal,
    channel_id: uuid.UUID,
    limit: int,
    cursor: str | None,
    options: ListOptions = NO_OPTIONS,
) -> Page[Delivery]:
    channel = await get_channel(session, actor=actor, channel_id=channel_id)
    return await deliveries.list_deliveries(
        session, destination=channel, limit=limit, cursor=cursor, options=options
    )


async def replay_delivery(
    session: AsyncSession, *, actor: Principal, channel_id: uuid.UUID, delivery_id: uuid.UUID, now: datetime
) -> Delivery:
    """Sends a delivery again; its message is rendered anew, so a fixed WeCom user id now counts."""
    channel = await get_channel(session, actor=actor, channel_id=channel_id)
    return await deliveries.replay_delivery(
        session, destination=channel, delivery_id=delivery_id, now=now, noun="notification_channel"
    )
