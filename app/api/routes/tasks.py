"""/tasks: follow-up work with due times on leads, customers and opportunities, from stage action
packs or entered by hand, for an assignee in any role."""

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
from app.api.display_names import with_name, with_names
from app.api.errors import problem_responses
from app.api.list_export import EXPORT_RESPONSES, ListExportDep
from app.api.list_filters import AssigneeIds, CompletedPeriod, CreatedPeriod, IdFilter, text_query
from app.api.routes import API_V1
from app.api.schemas.common import Timestamp
from app.api.schemas.pipelines import TaskCompleteIn, TaskCreate, TaskOut, TaskPage, TaskUpdate
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.models import TaskStatus
from app.services.activities import tasks

router = APIRouter(prefix=f"{API_V1}/tasks", tags=["tasks"])

CanRead = Annotated[Principal, Depends(require(Permission.tasks_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.tasks_write))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def create_task(
    session: SessionDep, actor: CanWrite, now: NowDep, body: TaskCreate, response: Response
) -> TaskOut:
    """A task on a lead, customer and/or opportunity (one customer's records: 422
    task.inconsistent_links naming the fields otherwise); reminded when due and when overdue."""
    task = await tasks.create_task(session, actor=actor, data=tasks.NewTask(**body.model_dump()), now=now)
    response.headers["Location"] = f"{API_V1}/tasks/{task.id}"
    return await with_name(session, actor, with_etag(response, TaskOut.model_validate(task)))


async def task_filters(
    created: CreatedPeriod,
    closed: CompletedPeriod,
    q: Annotated[str | None, text_query("Part of the title or the notes.")] = None,
    lead_id: IdFilter = None,
    customer_id: IdFilter = None,
    opportunity_id: IdFilter = None,
    stage_id: Annotated[
        list[uuid.UUID] | None,
        Query(max_length=20, description="Created for the deal's stay in this stage (its action pack)."),
    ] = None,
    assignee_id: AssigneeIds = None,
    team_id: Annotated[
        list[uuid.UUID] | None,
        Query(max_length=20, description="Given to a member of this team; repeat for any of several."),
    ] = None,
    status_: Annotated[list[TaskStatus] | None, Query(alias="status", max_length=20)] = None,
    overdue: Annotated[
        TrueOrFalse | None, Query(description="true: only red-flagged tasks; false: none.")
    ] = None,
    due_before: Timestamp | None = None,
) -> tasks.TaskFilters:
    return tasks.TaskFilters(
        lead_id=lead_id,
        customer_id=customer_id,
        opportunity_id=opportunity_id,
        assignee_id=assignee_id,
        stage_id=stage_id,
        team_id=team_id,
        status=status_,
        overdue=overdue,
        due_before=due_before,
        created=created,
        closed=closed,
        q=q,
    )


@router.get("", response_model=TaskPage, responses={**EXPORT_RESPONSES, **problem_responses(401, 403, 422)})
async def list_tasks(
    session: SessionDep,
    actor: CanRead,
    export: ListExportDep,
    options: ListOptionsDep,
    now: NowDep,
    filters: Annotated[tasks.TaskFilters, Depends(task_filters)],
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str, Query(pattern=r"^-?(due_at|created_at|updated_at)$", description=SORT_BY_CHANGE)
    ] = "due_at",
) -> TaskPage | Response:
    """Soonest due first: the tasks you are given, asked for, or that are on records you see. A filter
    given several times means any of its values."""

    async def read_page(limit: int, cursor: str | None) -> TaskPage:
        page = await tasks.list_tasks(
            session,
            actor=actor,
            options=options,
            sort=sort,
            limit=limit,
            cursor=cursor,
            now=now,
            filters=filters,
        )
        return TaskPage.of(
            page, await with_names(session, actor, [TaskOut.model_validate(t) for t in page.items])
        )

    return await export.answer(read_page, limit=limit, cursor=cursor)


@router.get(
    "/{task_id:uuid}",
    response_model=TaskOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_task(
    session: SessionDep, actor: CanRead, now: NowDep, task_id: uuid.UUID, response: Response
) -> TaskOut:
    task = await tasks.get_task(session, actor=actor, task_id=task_id, now=now)
    return await with_name(session, actor, with_etag(response, TaskOut.model_validate(task)))


@router.patch(
    "/{task_id:uuid}",
    response_model=TaskOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_task(
    session: SessionDep,
    actor: CanWrite,
    now: NowDep,
    task_id: uuid.UUID,
    body: TaskUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> TaskOut:
    """A new due_at sends its reminders again (once each)."""
    task = await tasks.update_task(
        session,
        actor=actor,
        task_id=task_id,
        changes=body.changes(),
        expected_version=expected_version,
        now=now,
    )
    return await with_name(session, actor, with_etag(response, TaskOut.model_validate(task)))


@router.post(
    "/{task_id:uuid}/complete",
    response_model=TaskOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
)
async def complete_task(
    session: SessionDep,
    actor: CanWrite,
    now: NowDep,
    task_id: uuid.UUID,
    body: TaskCompleteIn,
    response: Response,
) -> TaskOut:
    """Done, optionally naming the activity that did it, or cancelled; 409 when already closed."""
    task = await tasks.complete_task(
        session, actor=actor, task_id=task_id, activity_id=body.activity_id, cancel=body.cancel, now=now
    )
    return await with_name(session, actor, with_etag(response, TaskOut.model_validate(task)))
