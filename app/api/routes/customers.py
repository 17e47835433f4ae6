"""/customers: the master record, its contacts and its timeline."""

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
from app.api.list_filters import CreatedPeriod, OwnerIds, SearchText, Tags, TeamIds
from app.api.routes import API_V1
from app.api.schemas.common import Timestamp
from app.api.schemas.customers import (
    ContactCreate,
    ContactOut,
    ContactPage,
    CustomerCreate,
    CustomerMatchOut,
    CustomerMergeIn,
    CustomerMergeOut,
    CustomerOut,
    CustomerPage,
    CustomerUpdate,
    DuplicateCheck,
    DuplicateCheckOut,
    TimelineItemOut,
    TimelinePage,
)
from app.api.schemas.deletion import DeletedRecordOut, DeletedRecordPage
from app.domain.customers.customer_tier import Tier
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.models import Customer, CustomerMerge
from app.domain.platform.dedup import customer_keys
from app.services.customers import customer_dedup, customer_merge, customers, timeline
from app.services.marketing import engagement
from app.services.organization.policy import policy_for
from app.services.privacy import deletion

router = APIRouter(prefix=f"{API_V1}/customers", tags=["customers"])

CanRead = Annotated[Principal, Depends(require(Permission.customers_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.customers_write))]
CanMerge = Annotated[Principal, Depends(require(Permission.customers_merge))]
CanDelete = Annotated[Principal, Depends(require(Permission.records_delete))]
CanReadDeleted = Annotated[Principal, Depends(require(Permission.records_read_deleted))]
ShortFilter = Annotated[str | None, Query(min_length=1, max_length=64)]


async def customers_out(
    session: AsyncSession, actor: Principal, now: datetime, records: Sequence[Customer]
) -> list[CustomerOut]:
    """Customers as the API shows them: the temperature cooled to now."""
    reading = await engagement.temperature_reading(session, actor.organization_id, now)
    return await with_names(
        session, actor, [CustomerOut.model_validate(customer, context=reading) for customer in records]
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CustomerOut,
    responses=problem_responses(401, 403, 409, 413, 422),
    dependencies=[Idempotent],
)
async def create_customer(
    session: SessionDep, actor: CanWrite, now: NowDep, body: CustomerCreate, response: Response
) -> CustomerOut:
    customer = await customers.create_customer(
        session, actor=actor, data=customers.NewCustomer(**body.model_dump())
    )
    response.headers["ETag"] = etag_for(customer.version)
    response.headers["Location"] = f"{API_V1}/customers/{customer.id}"
    return (await customers_out(session, actor, now, [customer]))[0]


@router.post(
    "/check-duplicates",
    response_model=DuplicateCheckOut,
    responses=problem_responses(401, 403, 413, 422),
)
async def check_customer_duplicates(
    session: SessionDep, actor: CanRead, body: DuplicateCheck
) -> DuplicateCheckOut:
    """What `POST /customers` would meet with these details: exact matches (it would answer 409) and
    similar names. A colleague's customer the caller may not see shows only its owner's name."""
    policy = await policy_for(session, actor)
    found = await customer_dedup.check_duplicates(
        session,
        actor=actor,
        keys=customer_keys(body.name, body.uscc, body.phone, body.email),
        threshold=policy.company_match_threshold,
    )
    return DuplicateCheckOut(
        exact_matches=[CustomerMatchOut.model_validate(m) for m in found.exact_matches],
        possible_duplicates=[CustomerMatchOut.model_validate(m) for m in found.possible_duplicates],
    )


@router.get(
    "", response_model=CustomerPage, responses={**EXPORT_RESPONSES, **problem_responses(401, 403, 422)}
)
async def list_customers(
    session: SessionDep,
    actor: CanRead,
    export: ListExportDep,
    options: ListOptionsDep,
    now: NowDep,
    created: CreatedPeriod,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str,
        Query(
            pattern=r"^-?(created_at|updated_at|code|name|health_score|last_follow_up_at)$",
            description="`health_score` lists the weakest first, `-health_score` the healthiest; "
            "customers not scored yet come last either way. `last_follow_up_at`: the longest untouched "
            "first (never followed up: last either way). " + SORT_BY_CHANGE,
        ),
    ] = "-created_at",
    owner_id: OwnerIds = None,
    team_id: TeamIds = None,
    tier: Annotated[list[Tier] | None, Query(max_length=20)] = None,
    region: ShortFilter = None,
    industry: ShortFilter = None,
    tag: Tags = None,
    q: SearchText = None,
    code: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=16,
            description="Exact code; a merged customer's code finds its survivor.",
        ),
    ] = None,
    ids: Ids = None,
) -> CustomerPage | Response:
    """Newest first unless sorted otherwise. `q` looks in the name and code, and in the phone number
    typed any way. A filter given several times means any of its values."""

    async def read_page(limit: int, cursor: str | None) -> CustomerPage:
        page = await customers.list_customers(
            session,
            actor=actor,
            options=options,
            limit=limit,
            cursor=cursor,
            sort=sort,
            owner_id=owner_id,
            team_id=team_id,
            tier=tier,
            region=region,
            industry=industry,
            tags=tag,
            q=q,
            code=code,
            ids=ids,
            created=created,
        )
        return CustomerPage.of(page, await customers_out(session, actor, now, page.items))

    return await export.answer(read_page, limit=limit, cursor=cursor)


@router.get(
    "/{customer_id:uuid}",
    response_model=CustomerOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_customer(
    session: SessionDep, actor: CanRead, now: NowDep, customer_id: uuid.UUID, response: Response
) -> CustomerOut:
    """A merged customer's id answers its survivor (200, not a redirect: one round trip for the H5
    app), with `merged_from` naming the id asked for."""
    customer = await customers.get_customer(session, actor=actor, customer_id=customer_id)
    response.headers["ETag"] = etag_for(customer.version)
    return _with_alias((await customers_out(session, actor, now, [customer]))[0], asked_for=customer_id)


def _with_alias(out: CustomerOut, *, asked_for: uuid.UUID) -> CustomerOut:
    """The survivor, answered for a merged customer's id, says which id was asked for."""
    return out if out.id == asked_for else out.model_copy(update={"merged_from": asked_for})


@router.patch(
    "/{customer_id:uuid}",
    response_model=CustomerOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_customer(
    session: SessionDep,
    actor: CanWrite,
    now: NowDep,
    customer_id: uuid.UUID,
    body: CustomerUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> CustomerOut:
    customer = await customers.update_customer(
        session,
        actor=actor,
        customer_id=customer_id,
        changes=body.changes(),
        expected_version=expected_version,
    )
    response.headers["ETag"] = etag_for(customer.version)
    return _with_alias((await customers_out(session, actor, now, [customer]))[0], asked_for=customer_id)


@router.post(
    "/{customer_id:uuid}/merge",
    response_model=CustomerMergeOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def merge_customer(
    session: SessionDep, actor: CanMerge, now: NowDep, customer_id: uuid.UUID, body: CustomerMergeIn
) -> CustomerMergeOut:
    """Merges `duplicate_id` into this customer (supervisor or above, both visible to the caller):
    its contacts, leads, opportunities, activities, quotes, tasks, attachments and SLA timers move
    here; its id and code become aliases of this customer. Undo within 7 days."""
    merge = await customer_merge.merge_customers(
        session, actor=actor, survivor_id=customer_id, duplicate_id=body.duplicate_id, now=now
    )
    return await _merge_out(session, actor, now, merge)


@router.post(
    "/{customer_id:uuid}/merge/undo",
    response_model=CustomerMergeOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def undo_customer_merge(
    session: SessionDep, actor: CanMerge, now: NowDep, customer_id: uuid.UUID, body: CustomerMergeIn
) -> CustomerMergeOut:
    """Moves back exactly the records the merge of `duplicate_id` moved and makes it a customer
    again; 409 after 7 days, or when those records changed customer since (the reason is named)."""
    merge = await customer_merge.undo_merge(
        session, actor=actor, survivor_id=customer_id, duplicate_id=body.duplicate_id, now=now
    )
    return await _merge_out(session, actor, now, merge)


async def _merge_out(
    session: AsyncSession, actor: Principal, now: datetime, merge: CustomerMerge
) -> CustomerMergeOut:
    survivor = await customers.get_customer(session, actor=actor, customer_id=merge.survivor_id)
    return CustomerMergeOut(
        id=merge.id,
        customer=(await customers_out(session, actor, now, [survivor]))[0],
        duplicate_id=merge.duplicate_id,
        merged_at=merge.merged_at,
        undo_until=customer_merge.undo_deadline(merge),
        undone_at=merge.undone_at,
        moved={kind: len(ids) for kind, ids in merge.moved.items()},
    )


@router.get(
    "/{customer_id:uuid}/timeline",
    response_model=TimelinePage,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_customer_timeline(
    session: SessionDep, actor: CanRead, customer_id: uuid.UUID, limit: Limit = 50, cursor: Cursor = None
) -> TimelinePage:
    page = await timeline.customer_timeline(
        session, actor=actor, customer_id=customer_id, limit=limit, cursor=cursor
    )
    return TimelinePage.of(
        page, await with_names(session, actor, [TimelineItemOut.model_validate(item) for item in page.items])
    )


@router.post(
    "/{customer_id:uuid}/contacts",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def create_contact(
    session: SessionDep, actor: CanWrite, customer_id: uuid.UUID, body: ContactCreate
) -> ContactOut:
    contact = await customers.add_contact(
        session, actor=actor, customer_id=customer_id, data=customers.NewContact(**body.model_dump())
    )
    return await with_name(session, actor, ContactOut.model_validate(contact))


@router.get(
    "/{customer_id:uuid}/contacts",
    response_model=ContactPage,
    responses={**EXPORT_RESPONSES, **problem_responses(401, 403, 404, 422)},
)
async def list_contacts(
    session: SessionDep,
    actor: CanRead,
    export: ListExportDep,
    options: ListOptionsDep,
    customer_id: uuid.UUID,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str,
        Query(
            pattern=r"^(decision_chain|-?(name|created_at|updated_at))$",
            description="decision_chain: decision makers first, then influencers, users, gatekeepers, "
            "others and those without a role, by name within a role. " + SORT_BY_CHANGE,
        ),
    ] = "decision_chain",
) -> ContactPage | Response:
    async def read_page(limit: int, cursor: str | None) -> ContactPage:
        page = await customers.list_contacts(
            session,
            actor=actor,
            options=options,
            sort=sort,
            customer_id=customer_id,
            limit=limit,
            cursor=cursor,
        )
        return ContactPage.of(
            page, await with_names(session, actor, [ContactOut.model_validate(c) for c in page.items])
        )

    return await export.answer(read_page, limit=limit, cursor=cursor)


@router.get("/deleted", response_model=DeletedRecordPage, responses=problem_responses(401, 403, 422))
async def list_deleted_customers(
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
    """The organization's deleted customers, the most recently deleted first: what may be restored."""
    page = await deletion.list_deleted(
        session,
        actor=actor,
        options=options,
        entity="customer",
        limit=limit,
        cursor=cursor,
        deleted_since=deleted_since,
        sort=sort,
    )
    deleted = [DeletedRecordOut.model_validate(customer) for customer in page.items]
    return DeletedRecordPage.of(page, await with_names(session, actor, deleted))


@router.delete(
    "/{customer_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def delete_customer(session: SessionDep, actor: CanDelete, now: NowDep, customer_id: uuid.UUID) -> None:
    """Soft delete: the customer leaves every list, search, the status board and the KPIs, and no
    longer blocks a new customer of its name; its contacts, leads, deals and activities stay
    linked. 409 `customer.has_open_opportunities` (naming them) while it has open deals. An admin
    or a director may delete any customer, a supervisor his teams', a rep his own."""
    await deletion.delete_record(session, actor=actor, entity="customer", record_id=customer_id, now=now)


@router.post(
    "/{customer_id:uuid}/restore",
    response_model=CustomerOut,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=[Idempotent],
)
async def restore_customer(
    session: SessionDep, actor: CanDelete, now: NowDep, customer_id: uuid.UUID
) -> CustomerOut:
    """Brings a deleted customer back; 409 `customer.duplicate` while a live customer holds its
    name or uscc, 409 `customer.not_deleted` for a customer that is not deleted."""
    customer = await deletion.restore_record(session, actor=actor, entity="customer", record_id=customer_id)
    assert isinstance(customer, Customer)
    return (await customers_out(session, actor, now, [customer]))[0]
