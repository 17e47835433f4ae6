"""/notification-channels: WeCom and DingTalk channels the organization's events are posted to, and
their deliveries."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Response, status

from app.api.deps import (
    ETAG_HEADER,
    SORT_BY_CHANGE,
    Cursor,
    ExpectedVersion,
    Idempotent,
    Limit,
    ListOptionsDep,
    NowDep,
    SessionDep,
    etag_for,
    require,
    with_etag,
)
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.deliveries import DeliveryOut, DeliveryPage
from app.api.schemas.notification_channels import (
    NotificationChannelCreate,
    NotificationChannelOut,
    NotificationChannelPage,
    NotificationChannelUpdate,
)
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.notifications.channels import ChannelKind
from app.services.notifications import notification_channels

router = APIRouter(prefix=f"{API_V1}/notification-channels", tags=["notification-channels"])

CanManage = Annotated[Principal, Depends(require(Permission.notification_channels_manage))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=NotificationChannelOut,
    responses=problem_responses(401, 403, 413, 422),
    dependencies=[Idempotent],
)
async def create_notification_channel(
    session: SessionDep,
    actor: CanManage,
    body: Annotated[NotificationChannelCreate, Body()],
    response: Response,
) -> NotificationChannelOut:
    """Secrets in `config` are stored and never answered; `secret_hints` shows their last characters.
    An event type without a message answers 422 notification_channel.unknown_event_type."""
    channel = await notification_channels.create_channel(
        session,
        actor=actor,
        name=body.name,
        kind=ChannelKind(body.kind),
        config=body.config.model_dump(exclude_none=True),
        event_types=body.event_types,
    )
    response.headers["ETag"] = etag_for(channel.version)
    response.headers["Location"] = f"{API_V1}/notification-channels/{channel.id}"
    return NotificationChannelOut.of(channel)


@router.get("", response_model=NotificationChannelPage, responses=problem_responses(401, 403, 422))
async def list_notification_channels(
    session: SessionDep,
    actor: CanManage,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str, Query(pattern=r"^-?(created_at|updated_at)$", description=SORT_BY_CHANGE)
    ] = "created_at",
) -> NotificationChannelPage:
    page = await notification_channels.list_channels(
        session, actor=actor, options=options, sort=sort, limit=limit, cursor=cursor
    )
    return NotificationChannelPage.of(page, [NotificationChannelOut.of(c) for c in page.items])


@router.get(
    "/{channel_id:uuid}",
    response_model=NotificationChannelOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_notification_channel(
    session: SessionDep, actor: CanManage, channel_id: uuid.UUID, response: Response
) -> NotificationChannelOut:
    channel = await notification_channels.get_channel(session, actor=actor, channel_id=channel_id)
    return with_etag(response, NotificationChannelOut.of(channel))


@router.patch(
    "/{channel_id:uuid}",
    response_model=NotificationChannelOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 412, 413, 422)},
)
async def update_notification_channel(
    session: SessionDep,
    actor: CanManage,
    channel_id: uuid.UUID,
    body: NotificationChannelUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> NotificationChannelOut:
    """`config` replaces the whole configuration (secrets cannot be read back, so send them again);
    `is_active: true` re-enables a channel a 410 disabled."""
    channel = await notification_channels.update_channel(
        session,
        actor=actor,
        channel_id=channel_id,
        changes=body.channel_changes(),
        config=body.config_change(),
        expected_version=expected_version,
    )
    return with_etag(response, NotificationChannelOut.of(channel))


@router.delete(
    "/{channel_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_notification_channel(session: SessionDep, actor: CanManage, channel_id: uuid.UUID) -> None:
    await notification_channels.delete_channel(session, actor=actor, channel_id=channel_id)


@router.get(
    "/{channel_id:uuid}/deliveries",
    response_model=DeliveryPage,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_notification_channel_deliveries(
    session: SessionDep,
    actor: CanManage,
    options: ListOptionsDep,
    channel_id: uuid.UUID,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DeliveryPage:
    """Newest first: status (`skipped` when nobody could be reached), attempts, WeCom's or DingTalk's
    last answer and how long it took."""
    page = await notification_channels.list_deliveries(
        session, actor=actor, options=options, channel_id=channel_id, limit=limit, cursor=cursor
    )
    return DeliveryPage.of(page, [DeliveryOut.model_validate(d) for d in page.items])


@router.post(
    "/{channel_id:uuid}/deliveries/{delivery_id:uuid}/replay",
    response_model=DeliveryOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def replay_notification_channel_delivery(
    session: SessionDep, actor: CanManage, now: NowDep, channel_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryOut:
    """Sends the delivery again, rendered anew; 409 while the channel is disabled."""
    delivery = await notification_channels.replay_delivery(
        session, actor=actor, channel_id=channel_id, delivery_id=delivery_id, now=now
    )
    return DeliveryOut.model_validate(delivery)
