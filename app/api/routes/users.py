"""/users: people of the organization; admins manage them, others see by role."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.api.deps import (
    ETAG_HEADER,
    CurrentPrincipal,
    Cursor,
    ExpectedVersion,
    Idempotent,
    Ids,
    Limit,
    ListOptionsDep,
    SessionDep,
    TrueOrFalse,
    etag_for,
    require,
    with_etag,
)
from app.api.errors import problem_responses
from app.api.list_export import EXPORT_RESPONSES, ListExportDep
from app.api.routes import API_V1
from app.api.schemas.users import UserCreate, UserOut, UserPage, UserUpdate
from app.domain.identity.permissions import Permission, Role
from app.domain.identity.principal import Principal
from app.services.identity import users

router = APIRouter(prefix=f"{API_V1}/users", tags=["users"])

CanRead = Annotated[Principal, Depends(require(Permission.users_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.users_write))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=problem_responses(401, 403, 409, 413, 422),
    dependencies=[Idempotent],
)
async def create_user(session: SessionDep, actor: CanWrite, body: UserCreate, response: Response) -> UserOut:
    user = await users.create_user(session, actor=actor, data=users.NewUser(**body.model_dump()))
    response.headers["ETag"] = etag_for(user.version)
    response.headers["Location"] = f"/api/v1/users/{user.id}"
    return UserOut.model_validate(user)


@router.get("", response_model=UserPage, responses={**EXPORT_RESPONSES, **problem_responses(401, 403, 422)})
async def list_users(
    session: SessionDep,
    actor: CanRead,
    export: ListExportDep,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[str, Query(pattern=r"^-?(created_at|updated_at|username|display_name)$")] = "created_at",
    role: Annotated[list[Role] | None, Query(max_length=20)] = None,
    is_active: TrueOrFalse | None = None,
    team_id: Annotated[
        list[uuid.UUID] | None,
        Query(max_length=20, description="Members of this team; repeat for any of several."),
    ] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    ids: Ids = None,
) -> UserPage | Response:
    async def read_page(limit: int, cursor: str | None) -> UserPage:
        page = await users.list_users(
            session,
            actor=actor,
            options=options,
            limit=limit,
            cursor=cursor,
            sort=sort,
            role=role,
            is_active=is_active,
            team_id=team_id,
            q=q,
            ids=ids,
        )
        return UserPage.of(page, [UserOut.model_validate(u) for u in page.items])

    return await export.answer(read_page, limit=limit, cursor=cursor)


@router.get(
    "/me",
    response_model=UserOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403)},
)
async def get_current_user(session: SessionDep, actor: CurrentPrincipal, response: Response) -> UserOut:
    user = await users.get_current_user(session, actor=actor)
    return with_etag(response, UserOut.model_validate(user))


@router.get(
    "/{user_id:uuid}",
    response_model=UserOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_user(session: SessionDep, actor: CanRead, user_id: uuid.UUID, response: Response) -> UserOut:
    user = await users.get_user(session, actor=actor, user_id=user_id)
    return with_etag(response, UserOut.model_validate(user))


@router.patch(
    "/{user_id:uuid}",
    response_model=UserOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_user(
    session: SessionDep,
    actor: CanWrite,
    user_id: uuid.UUID,
    body: UserUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> UserOut:
    user = await users.update_user(
        session,
        actor=actor,
        user_id=user_id,
        changes=body.changes(),
        expected_version=expected_version,
    )
    return with_etag(response, UserOut.model_validate(user))
