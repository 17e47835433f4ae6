"""/business-calendars: working hours, holidays and make-up days (调休); the default one drives SLA timers."""

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
    SessionDep,
    etag_for,
    require,
    with_etag,
)
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.business_calendars import (
    BusinessCalendarCreate,
    BusinessCalendarOut,
    BusinessCalendarPage,
    BusinessCalendarUpdate,
    DueInstant,
)
from app.api.schemas.common import Timestamp
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.sla.sla import MAX_TARGET_MINUTES
from app.services.organization import business_calendars

router = APIRouter(prefix=f"{API_V1}/business-calendars", tags=["business-calendars"])

CanRead = Annotated[Principal, Depends(require(Permission.sla_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.sla_write))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BusinessCalendarOut,
    responses=problem_responses(401, 403, 409, 413, 422),
    dependencies=[Idempotent],
)
async def create_business_calendar(
    session: SessionDep, actor: CanWrite, body: BusinessCalendarCreate, response: Response
) -> BusinessCalendarOut:
    """422 calendar.invalid lists every problem (zone, times, overlaps, dates) at once. `is_default: true`
    makes it the calendar SLA timers count, in place of the previous default."""
    record = await business_calendars.create_calendar(session, actor=actor, fields=body.model_dump())
    response.headers["ETag"] = etag_for(record.version)
    response.headers["Location"] = f"{API_V1}/business-calendars/{record.id}"
    return BusinessCalendarOut.model_validate(record)


@router.get("", response_model=BusinessCalendarPage, responses=problem_responses(401, 403, 422))
async def list_business_calendars(
    session: SessionDep,
    actor: CanRead,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[str, Query(pattern=r"^-?(name|updated_at)$", description=SORT_BY_CHANGE)] = "name",
) -> BusinessCalendarPage:
    """By name."""
    page = await business_calendars.list_calendars(
        session, actor=actor, options=options, sort=sort, limit=limit, cursor=cursor
    )
    return BusinessCalendarPage.of(page, [BusinessCalendarOut.model_validate(c) for c in page.items])


@router.get(
    "/{calendar_id:uuid}",
    response_model=BusinessCalendarOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_business_calendar(
    session: SessionDep, actor: CanRead, calendar_id: uuid.UUID, response: Response
) -> BusinessCalendarOut:
    record = await business_calendars.get_calendar(session, actor=actor, calendar_id=calendar_id)
    return with_etag(response, BusinessCalendarOut.model_validate(record))


@router.patch(
    "/{calendar_id:uuid}",
    response_model=BusinessCalendarOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_business_calendar(
    session: SessionDep,
    actor: CanWrite,
    calendar_id: uuid.UUID,
    body: BusinessCalendarUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> BusinessCalendarOut:
    """Fields left out keep their value. Timers already running keep the deadlines they were given."""
    record = await business_calendars.update_calendar(
        session,
        actor=actor,
        calendar_id=calendar_id,
        changes=body.changes(),
        expected_version=expected_version,
    )
    return with_etag(response, BusinessCalendarOut.model_validate(record))


@router.delete(
    "/{calendar_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def delete_business_calendar(session: SessionDep, actor: CanWrite, calendar_id: uuid.UUID) -> None:
    """409 business_calendar.in_use for the default calendar."""
    await business_calendars.delete_calendar(session, actor=actor, calendar_id=calendar_id)


@router.get(
    "/{calendar_id:uuid}/add-minutes",
    response_model=DueInstant,
    responses=problem_responses(401, 403, 404, 422),
)
async def add_business_calendar_minutes(
    session: SessionDep,
    actor: CanRead,
    calendar_id: uuid.UUID,
    start: Timestamp,
    minutes: Annotated[int, Query(ge=0, le=MAX_TARGET_MINUTES, description="Business minutes to add.")],
) -> DueInstant:
    """The instant that many business minutes after `start` on this calendar, as an SLA timer started
    at `start` with that target would be due; holidays and make-up days included."""
    due_at = await business_calendars.add_minutes(
        session, actor=actor, calendar_id=calendar_id, start=start, minutes=minutes
    )
    return DueInstant(start=start, minutes=minutes, due_at=due_at)
