"""/webhooks: integrators' subscriptions to events, signed per Standard Webhooks, and their deliveries."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.api.deps import (
    ETAG_HEADER,
    SORT_BY_CHANGE,
    Cursor,
    ExpectedVersion,
    Idempotent,
    Limit,
    ListOptionsDep,
    NowDep,
    RuntimeDep,
    SessionDep,
    etag_for,
    replay_without_secret,
    require,
    with_etag,
)
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.deliveries import DeliveryOut, DeliveryPage
from app.api.schemas.webhooks import (
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookPage,
    WebhookSecretRotation,
    WebhookUpdate,
)
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.models import WebhookSubscription
from app.services.notifications import webhooks

router = APIRouter(prefix=f"{API_V1}/webhooks", tags=["webhooks"])

CanManage = Annotated[Principal, Depends(require(Permission.webhooks_manage))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses=problem_responses(401, 403, 413, 422),
    dependencies=[Idempotent],
)
async def create_webhook(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CanManage,
    body: WebhookCreate,
    request: Request,
    response: Response,
) -> WebhookCreated:
    """The signing secret is in this answer only (a replay for the same Idempotency-Key has `secret:
    null`). A URL whose host resolves to a private, loopback or link-local address answers 422
    webhook.destination_refused."""
    subscription = await webhooks.create_subscription(
        session,
        actor=actor,
        url=str(body.url),
        event_types=body.event_types,
        allow_private=runtime.settings.webhook_allow_private,
    )
    response.headers["ETag"] = etag_for(subscription.version)
    response.headers["Location"] = f"{API_V1}/webhooks/{subscription.id}"
    return _with_secret_once(request, subscription)


def _with_secret_once(request: Request, subscription: WebhookSubscription) -> WebhookCreated:
    answer = WebhookCreated.model_validate(subscription)
    replay_without_secret(request, answer.model_copy(update={"secret": None}))
    return answer


@router.get("", response_model=WebhookPage, responses=problem_responses(401, 403, 422))
async def list_webhooks(
    session: SessionDep,
    actor: CanManage,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str, Query(pattern=r"^-?(created_at|updated_at)$", description=SORT_BY_CHANGE)
    ] = "created_at",
) -> WebhookPage:
    page = await webhooks.list_subscriptions(
        session, actor=actor, options=options, sort=sort, limit=limit, cursor=cursor
    )
    return WebhookPage.of(page, [WebhookOut.model_validate(s) for s in page.items])


@router.get(
    "/{webhook_id:uuid}",
    response_model=WebhookOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_webhook(
    session: SessionDep, actor: CanManage, webhook_id: uuid.UUID, response: Response
) -> WebhookOut:
    subscription = await webhooks.get_subscription(session, actor=actor, subscription_id=webhook_id)
    return with_etag(response, WebhookOut.model_validate(subscription))


@router.patch(
    "/{webhook_id:uuid}",
    response_model=WebhookOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 412, 413, 422)},
)
async def update_webhook(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CanManage,
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> WebhookOut:
    """`is_active: true` re-enables a subscription a 410 disabled."""
    subscription = await webhooks.update_subscription(
        session,
        actor=actor,
        subscription_id=webhook_id,
        changes=body.webhook_changes(),
        expected_version=expected_version,
        allow_private=runtime.settings.webhook_allow_private,
    )
    return with_etag(response, WebhookOut.model_validate(subscription))


@router.delete(
    "/{webhook_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_webhook(session: SessionDep, actor: CanManage, webhook_id: uuid.UUID) -> None:
    await webhooks.delete_subscription(session, actor=actor, subscription_id=webhook_id)


@router.post(
    "/{webhook_id:uuid}/rotate-secret",
    response_model=WebhookCreated,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 413, 422)},
    dependencies=[Idempotent],
)
async def rotate_webhook_secret(
    session: SessionDep,
    actor: CanManage,
    now: NowDep,
    webhook_id: uuid.UUID,
    request: Request,
    response: Response,
    body: WebhookSecretRotation | None = None,
) -> WebhookCreated:
    """A new signing secret, in this answer only. The replaced one goes on signing deliveries next to
    it until `previous_secret_expires_at` (default 24 h), so the receiver can switch without refusing
    a message; rotating again replaces that earlier secret."""
    subscription = await webhooks.rotate_secret(
        session,
        actor=actor,
        subscription_id=webhook_id,
        overlap=timedelta(seconds=(body or WebhookSecretRotation()).overlap_seconds),
        now=now,
    )
    response.headers["ETag"] = etag_for(subscription.version)
    return _with_secret_once(request, subscription)


@router.get(
    "/{webhook_id:uuid}/deliveries",
    response_model=DeliveryPage,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_webhook_deliveries(
    session: SessionDep,
    actor: CanManage,
    options: ListOptionsDep,
    webhook_id: uuid.UUID,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DeliveryPage:
    """Newest first: status, attempts, the receiver's last answer and how long it took."""
    page = await webhooks.list_deliveries(
        session, actor=actor, options=options, subscription_id=webhook_id, limit=limit, cursor=cursor
    )
    return DeliveryPage.of(page, [DeliveryOut.model_validate(d) for d in page.items])


@router.post(
    "/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/replay",
    response_model=DeliveryOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def replay_webhook_delivery(
    session: SessionDep, actor: CanManage, now: NowDep, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryOut:
    """Sends the delivery again with the same webhook-id; 409 while the subscription is disabled."""
    delivery = await webhooks.replay_delivery(
        session, actor=actor, subscription_id=webhook_id, delivery_id=delivery_id, now=now
    )
    return DeliveryOut.model_validate(delivery)
