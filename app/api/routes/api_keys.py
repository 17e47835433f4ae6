"""/api-keys: integrator credentials with scopes; the secret is shown once."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.api.deps import (
    SORT_BY_CHANGE,
    Cursor,
    Idempotent,
    Limit,
    ListOptionsDep,
    NowDep,
    SessionDep,
    replay_without_secret,
    require,
)
from app.api.display_names import with_name, with_names
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyPage
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.services.identity import api_keys

router = APIRouter(prefix=f"{API_V1}/api-keys", tags=["api keys"])

CanManage = Annotated[Principal, Depends(require(Permission.api_keys_manage))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=problem_responses(401, 403, 409, 413, 422),
    dependencies=[Idempotent],
)
async def create_api_key(
    session: SessionDep,
    actor: CanManage,
    now: NowDep,
    body: ApiKeyCreate,
    request: Request,
    response: Response,
) -> ApiKeyCreated:
    """The key is in this answer only (a replay for the same Idempotency-Key has `secret: null`)."""
    created = await api_keys.create_api_key(
        session, actor=actor, name=body.name, scopes=body.scopes, expires_at=body.expires_at, now=now
    )
    response.headers["Location"] = f"/api/v1/api-keys/{created.api_key.id}"
    answer = ApiKeyCreated.model_validate(
        {**ApiKeyOut.model_validate(created.api_key).model_dump(), "secret": created.secret}
    )
    answer = await with_name(session, actor, answer)
    replay_without_secret(request, answer.model_copy(update={"secret": None}))
    return answer


@router.get("", response_model=ApiKeyPage, responses=problem_responses(401, 403, 422))
async def list_api_keys(
    session: SessionDep,
    actor: CanManage,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str, Query(pattern=r"^-?(created_at|name|updated_at)$", description=SORT_BY_CHANGE)
    ] = "created_at",
) -> ApiKeyPage:
    page = await api_keys.list_api_keys(
        session, actor=actor, options=options, sort=sort, limit=limit, cursor=cursor
    )
    return ApiKeyPage.of(
        page, await with_names(session, actor, [ApiKeyOut.model_validate(k) for k in page.items])
    )


@router.post(
    "/{api_key_id:uuid}/revoke",
    response_model=ApiKeyOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=[Idempotent],
)
async def revoke_api_key(
    session: SessionDep, actor: CanManage, now: NowDep, api_key_id: uuid.UUID
) -> ApiKeyOut:
    key = await api_keys.revoke_api_key(session, actor=actor, api_key_id=api_key_id, now=now)
    return await with_name(session, actor, ApiKeyOut.model_validate(key))
