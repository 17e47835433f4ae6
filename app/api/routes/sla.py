"""/sla-policies and /sla-timers: how long work may wait, and the clocks that watch it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

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
    TrueOrFalse,
    require,
    with_etag,
)
from app.api.display_names import with_names
from app.api.errors import problem_responses
from app.api.list_filters import IdFilter, OwnerIds, TeamIds
from app.api.routes import API_V1
from app.api.schemas.sla import (
    SlaPolicyCreate,
    SlaPolicyOut,
    SlaPolicyPage,
    SlaPolicyUpdate,
    SlaTimerOut,
    SlaTimerPage,
)
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.sla.sla import TimerState
from app.services.sla import sla

router = APIRouter(prefix=API_V1, tags=["sla"])

CanRead = Annotated[Principal, Depends(require(Permission.sla_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.sla_write))]


@router.post(
    "/sla-policies",
    status_code=status.HTTP_201_CREATED,
    response_model=SlaPolicyOut,
    responses=problem_responses(401, 403, 409, 413, 422),
    dependencies=[Idempotent],
)
async def create_sla_policy(
    session: SessionDep, actor: CanWrite, body: SlaPolicyCreate, response: Response
) -> SlaPolicyOut:
    """Timers start for records that change after this; business minutes follow the organization's
    working hours."""
    policy = await sla.create_policy(
        session,
        actor=actor,
        name=body.name,
        kind=body.kind,
        target_minutes=body.target_minutes,
        rules=body.rules,
        enabled=body.enabled,
    )
    response.headers["Location"] = f"{API_V1}/sla-policies/{policy.id}"
    return with_etag(response, SlaPolicyOut.model_validate(policy))


@router.get("/sla-policies", response_model=SlaPolicyPage, responses=problem_responses(401, 403, 422))
async def list_sla_policies(
    session: SessionDep,
    actor: CanRead,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str, Query(pattern=r"^-?(created_at|updated_at)$", description=SORT_BY_CHANGE)
    ] = "created_at",
) -> SlaPolicyPage:
    page = await sla.list_policies(
        session, actor=actor, options=options, sort=sort, limit=limit, cursor=cursor
    )
    return SlaPolicyPage.of(page, [SlaPolicyOut.model_validate(p) for p in page.items])


@router.get(
    "/sla-policies/{policy_id:uuid}",
    response_model=SlaPolicyOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_sla_policy(
    session: SessionDep, actor: CanRead, policy_id: uuid.UUID, response: Response
) -> SlaPolicyOut:
    policy = await sla.get_policy(session, actor=actor, policy_id=policy_id)
    return with_etag(response, SlaPolicyOut.model_validate(policy))


@router.patch(
    "/sla-policies/{policy_id:uuid}",
    response_model=SlaPolicyOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_sla_policy(
    session: SessionDep,
    actor: CanWrite,
    policy_id: uuid.UUID,
    body: SlaPolicyUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> SlaPolicyOut:
    """Running timers keep their schedule; changes apply to timers started afterwards."""
    policy = await sla.update_policy(
        session, actor=actor, policy_id=policy_id, changes=body.changes(), expected_version=expected_version
    )
    return with_etag(response, SlaPolicyOut.model_validate(policy))


@router.get("/sla-timers", response_model=SlaTimerPage, responses=problem_responses(401, 403, 422))
async def list_sla_timers(
    session: SessionDep,
    actor: CanRead,
    options: ListOptionsDep,
    now: NowDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[str, Query(pattern=r"^-?(due_at|updated_at)$", description=SORT_BY_CHANGE)] = "due_at",
    state: Annotated[list[TimerState] | None, Query(max_length=6)] = None,
    subject_id: IdFilter = None,
    owner_id: OwnerIds = None,
    team_id: TeamIds = None,
    active: Annotated[
        TrueOrFalse, Query(description="Only timers that can still warn, breach or escalate.")
    ] = False,
) -> SlaTimerPage:
    """Soonest due first, with each timer's red/yellow/green status now by the organization's
    thresholds (settings `rag_yellow_after_hours`, `rag_red_after_hours`)."""
    page = await sla.list_timers(
        session,
        actor=actor,
        options=options,
        sort=sort,
        now=now,
        limit=limit,
        cursor=cursor,
        state=state,
        subject_id=subject_id,
        owner_id=owner_id,
        team_id=team_id,
        active=active,
    )
    items = [
        SlaTimerOut(
            id=t.timer.id,
            policy_id=t.timer.policy_id,
            kind=t.timer.kind,
            subject_type=t.timer.subject_type,
            subject_id=t.timer.subject_id,
            owner_id=t.timer.owner_id,
            state=t.timer.state,
            level=t.timer.level,
            started_at=t.timer.started_at,
            warn_at=t.timer.warn_at,
            due_at=t.timer.due_at,
            stopped_at=t.timer.stopped_at,
            rag=t.rag,
        )
        for t in page.items
    ]
    return SlaTimerPage.of(page, await with_names(session, actor, items))
