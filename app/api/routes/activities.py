"""/activities: calls, visits with geo check-in, meetings, quotes sent: the trail of sales work."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

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
)
from app.api.display_names import with_names
from app.api.errors import problem_responses
from app.api.list_export import EXPORT_RESPONSES, ListExportDep
from app.api.list_filters import CreatedPeriod, IdFilter, OccurredPeriod, OwnerIds, TeamIds, text_query
from app.api.routes import API_V1
from app.api.schemas.activities import ActivityCreate, ActivityOut, ActivityPage, ActivityUpdate, GeoOut
from app.domain.activities.activities import ActivityType
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.models import Activity
from app.services.activities import activities
from app.services.assignment import contact_masking
from app.services.privacy import deletion

router = APIRouter(prefix=f"{API_V1}/activities", tags=["activities"])

CanRead = Annotated[Principal, Depends(require(Permission.activities_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.activities_write))]
CanDelete = Annotated[Principal, Depends(require(Permission.records_delete))]


def activity_out(activity: Activity) -> ActivityOut:
    geo = None
    if activity.latitude is not None and activity.longitude is not None:
        geo = GeoOut(lat=activity.latitude, lng=activity.longitude, accuracy_m=activity.accuracy_m or 0.0)
    return ActivityOut(
        id=activity.id,
        version=activity.version,
        created_at=activity.created_at,
        updated_at=activity.updated_at,
        type=activity.type,
        occurred_at=activity.occurred_at,
        owner_id=activity.owner_id,
        lead_id=activity.lead_id,
        customer_id=activity.customer_id,
        opportunity_id=activity.opportunity_id,
        warnings=activity.warnings,
        notes=activity.notes,
        info_points=activity.info_points,
        call_outcome=activity.call_outcome,
        duration_seconds=activity.duration_seconds,
        geo=geo,
        distance_m=activity.distance_m,
        geo_mismatch=activity.has_geo_mismatch,
        is_effective=activity.is_effective,
        late_entry=activity.late_entry,
        attachment_ids=[uuid.UUID(a) for a in activity.attachment_ids],
        client_id=activity.client_id,
        satisfaction=activity.satisfaction,
        custom_fields=activity.custom_fields,
    )


async def activities_out(
    session: AsyncSession, actor: Principal, records: Sequence[Activity]
) -> list[ActivityOut]:
    """Activities as the API shows them: on a pooled lead masked for the caller, phone numbers,
    e-mail addresses and the lead's WeChat id in the notes and info points masked."""
    masking = await contact_masking.masking_for(session, actor)
    masked = await contact_masking.shown_activity_texts(session, masking, records)
    return await with_names(
        session, actor, [activity_out(a).model_copy(update=masked.get(a.id, {})) for a in records]
    )


async def one_activity_out(session: AsyncSession, actor: Principal, activity: Activity) -> ActivityOut:
    return (await activities_out(session, actor, [activity]))[0]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ActivityOut,
    responses={
        200: {"model": ActivityOut, "description": "The activity already recorded under this client_id"},
        **problem_responses(401, 403, 404, 409, 413, 422),
    },
    dependencies=[Idempotent],
)
async def create_activity(
    session: SessionDep, actor: CanWrite, now: NowDep, body: ActivityCreate, response: Response
) -> ActivityOut:
    data = body.model_dump(exclude={"geo", "info_points"})
    geo = (
        activities.CheckIn(latitude=body.geo.lat, longitude=body.geo.lng, accuracy_m=body.geo.accuracy_m)
        if body.geo
        else None
    )
    recorded = await activities.record_activity(
        session,
        actor=actor,
        data=activities.NewActivity(
            **data, geo=geo, info_points={point.value: text for point, text in body.info_points.items()}
        ),
        now=now,
    )
    if not recorded.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"{API_V1}/activities/{recorded.activity.id}"
    return await one_activity_out(session, actor, recorded.activity)


@router.get(
    "", response_model=ActivityPage, responses={**EXPORT_RESPONSES, **problem_responses(401, 403, 422)}
)
async def list_activities(
    session: SessionDep,
    actor: CanRead,
    export: ListExportDep,
    options: ListOptionsDep,
    occurred: OccurredPeriod,
    created: CreatedPeriod,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str, Query(pattern=r"^-?(occurred_at|created_at|updated_at)$", description=SORT_BY_CHANGE)
    ] = "-occurred_at",
    lead_id: IdFilter = None,
    customer_id: IdFilter = None,
    opportunity_id: IdFilter = None,
    owner_id: OwnerIds = None,
    team_id: TeamIds = None,
    type_: Annotated[list[ActivityType] | None, Query(alias="type", max_length=20)] = None,
    q: Annotated[str | None, text_query("Part of the notes.")] = None,
) -> ActivityPage | Response:
    """The latest first unless sorted otherwise. A filter given several times means any of its
    values."""

    async def read_page(limit: int, cursor: str | None) -> ActivityPage:
        page = await activities.list_activities(
            session,
            actor=actor,
            options=options,
            limit=limit,
            cursor=cursor,
            sort=sort,
            filters={
                "lead_id": lead_id,
                "customer_id": customer_id,
                "opportunity_id": opportunity_id,
                "owner_id": owner_id,
                "type": type_,
            },
            team_id=team_id,
            occurred=occurred,
            created=created,
            q=q,
        )
        return ActivityPage.of(page, await activities_out(session, actor, page.items))

    return await export.answer(read_page, limit=limit, cursor=cursor)


@router.get(
    "/{activity_id:uuid}",
    response_model=ActivityOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_activity(
    session: SessionDep, actor: CanRead, activity_id: uuid.UUID, response: Response
) -> ActivityOut:
    activity = await activities.get_activity(session, actor=actor, activity_id=activity_id)
    response.headers["ETag"] = etag_for(activity.version)
    return await one_activity_out(session, actor, activity)


@router.patch(
    "/{activity_id:uuid}",
    response_model=ActivityOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_activity(
    session: SessionDep,
    actor: CanWrite,
    activity_id: uuid.UUID,
    body: ActivityUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> ActivityOut:
    """Edits the notes and custom fields (If-Match with its ETag: 412 when it moved on). Its
    author, the author's supervisor, a director or an admin may; anyone else who can read it gets
    403 `activity.edit_forbidden`. What happened (type, occurred_at, geo check-in, outcome, info
    points, linked records) cannot be edited: sending such a field is a 422 naming it."""
    activity = await activities.update_activity(
        session,
        actor=actor,
        activity_id=activity_id,
        changes=body.changes(),
        expected_version=expected_version,
    )
    response.headers["ETag"] = etag_for(activity.version)
    return await one_activity_out(session, actor, activity)


@router.delete(
    "/{activity_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_activity(session: SessionDep, actor: CanDelete, now: NowDep, activity_id: uuid.UUID) -> None:
    """Soft delete: the activity leaves lists, timelines and the KPIs (follow-up dates already
    derived from it stay); `POST .../restore` brings it back. An admin or a director may delete
    any activity, a supervisor his teams', a rep his own."""
    await deletion.delete_record(session, actor=actor, entity="activity", record_id=activity_id, now=now)


@router.post(
    "/{activity_id:uuid}/restore",
    response_model=ActivityOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=[Idempotent],
)
async def restore_activity(session: SessionDep, actor: CanDelete, activity_id: uuid.UUID) -> ActivityOut:
    """Brings a deleted activity back; 409 `activity.not_deleted` for one that is not deleted."""
    activity = await deletion.restore_record(session, actor=actor, entity="activity", record_id=activity_id)
    assert isinstance(activity, Activity)
    return await one_activity_out(session, actor, activity)
