"""The in-app inbox of the signed-in user."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import Notification
from app.domain.platform.errors import PermissionDenied
from app.services.platform.common import get_visible
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page, SortOrder, paginate

SORTABLE = {"created_at": Notification.created_at}


def _inbox_owner(actor: Principal) -> uuid.UUID:
    if actor.user_id is None:
        raise PermissionDenied("Only users have an inbox.", code="notification.user_only")
    return actor.user_id


async def list_notifications(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    is_read: bool | None = None,
    options: ListOptions = NO_OPTIONS,
) -> Page[Notification]:
    user_id = _inbox_owner(actor)
    statement = select(Notification).where(
        Notification.organization_id == actor.organization_id, Notification.user_id == user_id
    )
    if is_read is not None:
        statement = statement.where(
            Notification.read_at.is_not(None) if is_read else Notification.read_at.is_(None)
        )
    order = SortOrder.parse("-created_at", SORTABLE)
    return await paginate(
        session,
        statement,
        sort_column=Notification.created_at,
        id_column=Notification.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )


async def mark_read(
    session: AsyncSession, *, actor: Principal, notification_id: uuid.UUID, now: datetime
) -> Notification:
    user_id = _inbox_owner(actor)
    notification = await get_visible(
        session, Notification, notification_id, actor=actor, visible=Notification.user_id == user_id
    )
    if notification.read_at is None:
        notification.read_at = now
        await session.flush()
    return notification
