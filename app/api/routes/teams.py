"""/teams: supervisors, members and regions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.api.deps import (
    ETAG_HEADER,
    Cursor,
    ExpectedVersion,
    Idempotent,
    Limit,
    ListOptionsDep,
    SessionDep,
    etag_for,
    require,
)
from app.api.display_names import with_name, with_names
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.teams import TeamCreate, TeamOut, TeamPage, TeamUpdate
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.services.identity import teams

router = APIRouter(prefix=f"{API_V1}/teams", tags=["teams"])

CanRead = Annotated[Principal, Depends(require(Permission.teams_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.teams_write))]


def _out(view: teams.TeamView) -> TeamOut:
    team = view.team
    return TeamOut(
        id=team.id,
        version=team.version,
        created_at=team.created_at,
        updated_at=team.updated_at,
        name=team.name,
        region=team.region,
        supervisor_id=team.supervisor_id,
        member_ids=view.member_ids,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TeamOut,
    responses=problem_responses(401, 403, 409, 413, 422),
    dependencies=[Idempotent],
)
async def create_team(session: SessionDep, actor: CanWrite, body: TeamCreate, response: Response) -> TeamOut:
    data = body.model_dump()
    data["member_ids"] = tuple(data["member_ids"])
    view = await teams.create_team(session, actor=actor, data=teams.NewTeam(**data))
    response.headers["ETag"] = etag_for(view.team.version)
    response.headers["Location"] = f"/api/v1/teams/{view.team.id}"
    return await with_name(session, actor, _out(view))


@router.get("", response_model=TeamPage, responses=problem_responses(401, 403, 422))
async def list_teams(
    session: SessionDep,
    actor: CanRead,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[str, Query(pattern=r"^-?(created_at|updated_at|name)$")] = "created_at",
) -> TeamPage:
    page = await teams.list_teams(
        session, actor=actor, options=options, limit=limit, cursor=cursor, sort=sort
    )
    return TeamPage.of(page, await with_names(session, actor, [_out(v) for v in page.items]))


@router.get(
    "/{team_id:uuid}",
    response_model=TeamOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_team(session: SessionDep, actor: CanRead, team_id: uuid.UUID, response: Response) -> TeamOut:
    view = await teams.get_team(session, actor=actor, team_id=team_id)
    response.headers["ETag"] = etag_for(view.team.version)
    return await with_name(session, actor, _out(view))


@router.patch(
    "/{team_id:uuid}",
    response_model=TeamOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_team(
    session: SessionDep,
    actor: CanWrite,
    team_id: uuid.UUID,
    body: TeamUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> TeamOut:
    view = await teams.update_team(
        session,
        actor=actor,
        team_id=team_id,
        changes=body.changes(),
        expected_version=expected_version,
    )
    response.headers["ETag"] = etag_for(view.team.version)
    return await with_name(session, actor, _out(view))


@router.delete(
    "/{team_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 409, 412, 422),
)
async def delete_team(
    session: SessionDep, actor: CanWrite, team_id: uuid.UUID, expected_version: ExpectedVersion
) -> None:
    await teams.delete_team(session, actor=actor, team_id=team_id, expected_version=expected_version)
