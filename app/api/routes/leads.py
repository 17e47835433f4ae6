"""/leads: capture, de-duplicate, work, convert or disqualify leads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import (
    ETAG_HEADER,
    SORT_BY_CHANGE,
    Cursor,
    DeletedSort,
    ExpectedVersion,
    Idempotent,
    Ids,
    Limit,
    ListOptionsDep,
    NowDep,
    SessionDep,
    etag_for,
    require,
)
from app.api.display_names import with_name, with_names
from app.api.errors import problem_responses
from app.api.list_export import EXPORT_RESPONSES, ListExportDep
from app.api.list_filters import CreatedPeriod, IdFilter, OwnerIds, SearchText, Tags, TeamIds
from app.api.routes import API_V1
from app.api.routes.customers import customers_out
from app.api.routes.opportunities import opportunities_out
from app.api.schemas.common import Timestamp
from app.api.schemas.customers import ContactOut, LeadConversionOut
from app.api.schemas.deletion import DeletedRecordOut, DeletedRecordPage
from app.api.schemas.leads import (
    LeadConvert,
    LeadCreate,
    LeadDisqualify,
    LeadFeedbackIn,
    LeadMergeIn,
    LeadMergeOut,
    LeadOut,
    LeadPage,
    LeadUpdate,
)
from app.api.schemas.personal_data import ErasureIn
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadSource, LeadStatus
from app.domain.models import Lead, LeadMerge
from app.services.assignment import contact_masking
from app.services.leads import lead_merge, lead_qualification, leads
from app.services.marketing import engagement
from app.services.privacy import deletion, personal_data

router = APIRouter(prefix=f"{API_V1}/leads", tags=["leads"])

CanRead = Annotated[Principal, Depends(require(Permission.leads_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.leads_write))]
CanMerge = Annotated[Principal, Depends(require(Permission.leads_merge))]
CanDelete = Annotated[Principal, Depends(require(Permission.records_delete))]
CanReadDeleted = Annotated[Principal, Depends(require(Permission.records_read_deleted))]
CanErase = Annotated[Principal, Depends(require(Permission.personal_data_manage))]
ShortFilter = Annotated[str | None, Query(min_length=1, max_length=64)]


async def leads_out(
    session: AsyncSession, actor: Principal, now: datetime, records: Sequence[Lead]
) -> list[LeadOut]:
    """Leads as the API shows them: the temperature cooled to now, a pooled lead's contacts masked
    for whom the organization masks them."""
    reading = await engagement.temperature_reading(session, actor.organization_id, now)
    masking = await contact_masking.masking_for(session, actor)
    return await with_names(
        session,
        actor,
        [
            LeadOut.model_validate(lead, context=reading).model_copy(
                update=contact_masking.shown_contacts(masking, lead)
            )
            for lead in records
        ],
    )


async def lead_out(session: AsyncSession, actor: Principal, now: datetime, lead: Lead) -> LeadOut:
    return (await leads_out(session, actor, now, [lead]))[0]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=LeadOut,
    responses={
        200: {
            "model": LeadOut,
            "description": "on_duplicate=merge: the existing lead, with the new data as a note",
        },
        **problem_responses(401, 403, 409, 413, 422),
    },
    dependencies=[Idempotent],
)
async def create_lead(
    session: SessionDep,
    actor: CanWrite,
    now: NowDep,
    body: LeadCreate,
    response: Response,
    on_duplicate: leads.OnDuplicate = leads.OnDuplicate.reject,
) -> LeadOut:
    """Creates a lead; an exact phone or e-mail duplicate answers 409 with the existing lead's id,
    or with `on_duplicate=merge` is appended to the existing lead (200)."""
    created = await leads.create_lead(
        session, actor=actor, data=leads.NewLead(**body.model_dump()), now=now, on_duplicate=on_duplicate
    )
    if created.merged:
        response.status_code = status.HTTP_200_OK
    response.headers["ETag"] = etag_for(created.lead.version)
    response.headers["Location"] = f"{API_V1}/leads/{created.lead.id}"
    return await lead_out(session, actor, now, created.lead)


LeadSort = Annotated[
    str,
    Query(
        pattern=r"^-?(created_at|updated_at|score|name|last_follow_up_at)$",
        description="-score: the highest intent score first (whom to follow up first); "
        "last_follow_up_at: the longest untouched first (never followed up: last either way). "
        + SORT_BY_CHANGE,
    ),
]


@router.get("", response_model=LeadPage, responses={**EXPORT_RESPONSES, **problem_responses(401, 403, 422)})
async def list_leads(
    session: SessionDep,
    actor: CanRead,
    export: ListExportDep,
    options: ListOptionsDep,
    now: NowDep,
    created: CreatedPeriod,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: LeadSort = "-created_at",
    owner_id: OwnerIds = None,
    team_id: TeamIds = None,
    status_: Annotated[list[LeadStatus] | None, Query(alias="status", max_length=20)] = None,
    source: Annotated[list[LeadSource] | None, Query(max_length=20)] = None,
    region: ShortFilter = None,
    industry: ShortFilter = None,
    product_line: ShortFilter = None,
    customer_id: IdFilter = None,
    campaign_id: IdFilter = None,
    tag: Tags = None,
    q: SearchText = None,
    ids: Ids = None,
) -> LeadPage | Response:
    """Newest first unless sorted otherwise. A filter given several times means any of its values.
    The leads the caller works (a rep his own and the pool's, a supervisor his teams', directors
    and admins all), and for marketing also the leads it entered, whoever works them now, to read
    their outcome (changing one answers 403 `lead.read_only`). A pooled lead's phone, e-mail and
    WeChat id are masked (`139****2222`) for everyone but admins, directors, API keys and whoever
    entered it, while settings `lead_pool.mask_contacts` is on (the default). `q` looks in the name
    and company, and in the phone number typed any way, except a masked lead's: that one it finds
    by its name, company or whole number, not by part of its number."""

    async def read_page(limit: int, cursor: str | None) -> LeadPage:
        page = await leads.list_leads(
            session,
            actor=actor,
            options=options,
            limit=limit,
            cursor=cursor,
            sort=sort,
            filters={
                "id": ids,
                "owner_id": owner_id,
                "status": status_,
                "source": source,
                "region": region,
                "industry": industry,
                "product_line": product_line,
                "customer_id": customer_id,
                "campaign_id": campaign_id,
            },
            team_id=team_id,
            tags=tag,
            q=q,
            created=created,
        )
        return LeadPage.of(page, await leads_out(session, actor, now, page.items))

    return await export.answer(read_page, limit=limit, cursor=cursor)


@router.get(
    "/{lead_id:uuid}",
    response_model=LeadOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_lead(
    session: SessionDep, actor: CanRead, now: NowDep, lead_id: uuid.UUID, response: Response
) -> LeadOut:
    """A lead the caller may read (as in GET /leads, masking included). A merged lead's id answers
    its survivor (200), with `merged_from` naming the id asked for."""
    lead = await leads.read_lead(session, actor=actor, lead_id=lead_id)
    response.headers["ETag"] = etag_for(lead.version)
    out = await lead_out(session, actor, now, lead)
    return out if out.id == lead_id else out.model_copy(update={"merged_from": lead_id})


@router.patch(
    "/{lead_id:uuid}",
    response_model=LeadOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_lead(
    session: SessionDep,
    actor: CanWrite,
    now: NowDep,
    lead_id: uuid.UUID,
    body: LeadUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> LeadOut:
    lead = await leads.update_lead(
        session,
        actor=actor,
        lead_id=lead_id,
        changes=body.changes(),
        expected_version=expected_version,
        now=now,
    )
    response.headers["ETag"] = etag_for(lead.version)
    return await lead_out(session, actor, now, lead)


@router.post(
    "/{lead_id:uuid}/convert",
    response_model=LeadConversionOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def convert_lead(
    session: SessionDep, actor: CanWrite, now: NowDep, lead_id: uuid.UUID, body: LeadConvert
) -> LeadConversionOut:
    conversion = await leads.convert_lead(
        session,
        actor=actor,
        lead_id=lead_id,
        customer_id=body.customer_id,
        customer_name=body.customer_name,
        opportunity=(
            leads.NewDeal(body.opportunity_name, body.opportunity_amount, body.pipeline_id)
            if body.opportunity_name
            else None
        ),
        now=now,
    )
    return LeadConversionOut(
        lead=await lead_out(session, actor, now, conversion.lead),
        customer=(await customers_out(session, actor, now, [conversion.customer]))[0],
        contact=await with_name(session, actor, ContactOut.model_validate(conversion.contact)),
        customer_created=conversion.customer_created,
        opportunity=(await opportunities_out(session, actor, [conversion.opportunity]))[0]
        if conversion.opportunity
        else None,
    )


@router.post(
    "/{lead_id:uuid}/qualify",
    response_model=LeadOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def qualify_lead(session: SessionDep, actor: CanWrite, now: NowDep, lead_id: uuid.UUID) -> LeadOut:
    """Qualified when the lead meets the organization's criteria (settings `lead_qualification`,
    by default its budget and a purchase timeframe recorded in an activity); otherwise 422
    `lead.qualification_incomplete` naming each criterion it misses. Records who qualified it."""
    lead = await lead_qualification.qualify_lead(session, actor=actor, lead_id=lead_id, now=now)
    return await lead_out(session, actor, now, lead)


@router.put(
    "/{lead_id:uuid}/feedback",
    response_model=LeadOut,
    responses=problem_responses(401, 403, 404, 413, 422),
)
async def give_lead_feedback(
    session: SessionDep, actor: CanWrite, now: NowDep, lead_id: uuid.UUID, body: LeadFeedbackIn
) -> LeadOut:
    """Sales' rating of a lead (quality 1-5, reason codes) for marketing's source-quality figures;
    the last rating given is the lead's."""
    lead = await lead_qualification.give_feedback(
        session,
        actor=actor,
        lead_id=lead_id,
        feedback=lead_qualification.Feedback(body.quality, tuple(body.reason_codes), body.comment),
        now=now,
    )
    return await lead_out(session, actor, now, lead)


@router.post(
    "/{lead_id:uuid}/disqualify",
    response_model=LeadOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def disqualify_lead(
    session: SessionDep, actor: CanWrite, now: NowDep, lead_id: uuid.UUID, body: LeadDisqualify
) -> LeadOut:
    lead = await leads.disqualify_lead(session, actor=actor, lead_id=lead_id, reason=body.reason, now=now)
    return await lead_out(session, actor, now, lead)


@router.post(
    "/{lead_id:uuid}/merge",
    response_model=LeadMergeOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def merge_lead(
    session: SessionDep, actor: CanMerge, now: NowDep, lead_id: uuid.UUID, body: LeadMergeIn
) -> LeadMergeOut:
    """Merges `duplicate_id` into this lead (supervisor or above, both visible to the caller): its
    activities, attachments, engagement events, SLA timers (its running ones closed) and the
    opportunities it was the source of move here; fields and custom fields this lead lacks are
    taken from it. It becomes `merged`: out of lists, the pool and de-duplication, its id an alias
    of this lead. 409 when either is merged already or both were converted into different
    customers; 422 for the lead itself. Undo within 7 days."""
    merge = await lead_merge.merge_leads(
        session, actor=actor, survivor_id=lead_id, duplicate_id=body.duplicate_id, now=now
    )
    return await _merge_out(session, actor, now, merge)


@router.post(
    "/{lead_id:uuid}/merge/undo",
    response_model=LeadMergeOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def undo_lead_merge(
    session: SessionDep, actor: CanMerge, now: NowDep, lead_id: uuid.UUID, body: LeadMergeIn
) -> LeadMergeOut:
    """Moves back exactly the records the merge of `duplicate_id` moved, takes back the fields it
    filled (unless edited since) and makes it a lead again; 409 after 7 days, or when those records
    left this lead since (the reason is named)."""
    merge = await lead_merge.undo_merge(
        session, actor=actor, survivor_id=lead_id, duplicate_id=body.duplicate_id, now=now
    )
    return await _merge_out(session, actor, now, merge)


async def _merge_out(
    session: AsyncSession, actor: Principal, now: datetime, merge: LeadMerge
) -> LeadMergeOut:
    survivor = await leads.get_lead(session, actor=actor, lead_id=merge.survivor_id)
    return LeadMergeOut(
        id=merge.id,
        lead=await lead_out(session, actor, now, survivor),
        duplicate_id=merge.duplicate_id,
        merged_at=merge.merged_at,
        undo_until=lead_merge.undo_deadline(merge),
        undone_at=merge.undone_at,
        moved={kind: len(ids) for kind, ids in merge.moved.items()},
        filled=sorted(merge.filled),
    )


@router.get("/deleted", response_model=DeletedRecordPage, responses=problem_responses(401, 403, 422))
async def list_deleted_leads(
    session: SessionDep,
    actor: CanReadDeleted,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    deleted_since: Annotated[
        Timestamp | None,
        Query(description="Only those deleted since then: the deletions an `updated_since` sync misses."),
    ] = None,
    sort: DeletedSort = "-deleted_at",
) -> DeletedRecordPage:
    """The organization's deleted leads, the most recently deleted first: what may be restored."""
    page = await deletion.list_deleted(
        session,
        actor=actor,
        options=options,
        entity="lead",
        limit=limit,
        cursor=cursor,
        deleted_since=deleted_since,
        sort=sort,
    )
    deleted = [DeletedRecordOut.model_validate(lead) for lead in page.items]
    return DeletedRecordPage.of(page, await with_names(session, actor, deleted))


@router.delete(
    "/{lead_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_lead(session: SessionDep, actor: CanDelete, now: NowDep, lead_id: uuid.UUID) -> None:
    """Soft delete: the lead leaves every list, search, the pool and the KPIs, and no longer blocks
    a new lead with its phone or e-mail; its activities stay, and `POST .../restore` brings it back.
    An admin or a director may delete any lead, a supervisor his teams', a rep his own."""
    await deletion.delete_record(session, actor=actor, entity="lead", record_id=lead_id, now=now)


@router.post(
    "/{lead_id:uuid}/restore",
    response_model=LeadOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=[Idempotent],
)
async def restore_lead(session: SessionDep, actor: CanDelete, now: NowDep, lead_id: uuid.UUID) -> LeadOut:
    """Brings a deleted lead back; 409 `lead.duplicate` while a live lead holds its phone or e-mail,
    409 `lead.not_deleted` for a lead that is not deleted."""
    lead = await deletion.restore_record(session, actor=actor, entity="lead", record_id=lead_id)
    assert isinstance(lead, Lead)
    return await lead_out(session, actor, now, lead)


@router.post(
    "/{lead_id:uuid}/erase",
    response_model=LeadOut,
    responses=problem_responses(401, 403, 404, 413, 422),
    dependencies=[Idempotent],
)
async def erase_lead(
    session: SessionDep, actor: CanErase, now: NowDep, lead_id: uuid.UUID, body: ErasureIn
) -> LeadOut:
    """Erases the person's data (PIPL), irreversibly: name becomes "erased"; phone, e-mail, WeChat,
    notes (the lead's and its activities') and de-duplication keys are emptied, also in the lead's
    audit rows. Company, source, budget, status, dates and activities' types and outcomes stay.
    Deleted leads can be erased too. Admin only."""
    lead = await personal_data.erase_lead(session, actor=actor, lead_id=lead_id, reason=body.reason, now=now)
    return await lead_out(session, actor, now, lead)
