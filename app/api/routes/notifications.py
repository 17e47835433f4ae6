"""/notifications: the signed-in user's in-app inbox."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from app.api.deps import Cursor, Idempotent, Limit, ListOptionsDep, NowDep, SessionDep, TrueOrFalse, require
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.notifications import NotificationOut, NotificationPage
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.services.notifications import notifications

router = APIRouter(prefix=f"{API_V1}/notifications", tags=["notifications"])

CanRead = Annotated[Principal, Depends(require(Permission.notifications_read))]


@router.get("", response_model=NotificationPage, responses=problem_responses(401, 403, 422))
async def list_notifications(
    session: SessionDep,
    actor: CanRead,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    is_read: TrueOrFalse | None = None,
) -> NotificationPage:
    page = await notifications.list_notifications(
        session, actor=actor, options=options, limit=limit, cursor=cursor, is_read=is_read
    )
    return NotificationPage.of(page, [NotificationOut.model_validate(n) for n in page.items])


@router.post(
    "/{notification_id:uuid}/read",
    response_model=NotificationOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=[Idempotent],
)
async def mark_notification_read(
    session: SessionDep, actor: CanRead, now: NowDep, notification_id: uuid.UUID
) -> NotificationOut:
    notification = await notifications.mark_read(
        session, actor=actor, notification_id=notification_id, now=now
    )
    return NotificationOut.model_validate(notification)
