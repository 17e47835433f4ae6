"""/customers: the master record, its contacts and its timeline."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import Cursor, ExpectedVersion, Idempotent, Limit, NowDep, SessionDep, etag_for, require
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.common import Timestamp
from app.api.schemas.customers import (
    ContactCreate,
    ContactOut,
    ContactPage,
    CustomerCreate,
    CustomerOut,
    CustomerPage,
    CustomerUpdate,
    TimelineItemOut,
    TimelinePage,
)
from app.domain.customer_tier import Tier
from app.domain.models import Customer
from app.domain.permissions import Permission
from app.domain.principal import Principal
from app.services import customers, engagement, timeline

router = APIRouter(prefix=f"{API_V1}/customers", tags=["customers"])

CanRead = Annotated[Principal, Depends(require(Permission.customers_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.customers_write))]
ShortFilter = Annotated[str | None, Query(min_length=1, max_length=64)]
_ETAG_HEADER = {"ETag": {"description": "The version, for If-Match.", "schema": {"type": "string"}}}


async def customers_out(
    session: AsyncSession, actor: Principal, now: datetime, records: Sequence[Customer]
) -> list[CustomerOut]:
    """Customers as the API shows them: the temperature cooled to now."""
    reading = await engagement.temperature_reading(session, actor.organization_id, now)
    return [CustomerOut.model_validate(customer, context=reading) for customer in records]


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


@router.get("", response_model=CustomerPage, responses=problem_responses(401, 403, 422))
async def list_customers(
    session: SessionDep,
    actor: CanRead,
    now: NowDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[str, Query(pattern=r"^-?(created_at|updated_at|code)$")] = "-created_at",
    owner_id: uuid.UUID | None = None,
    tier: Annotated[list[Tier] | None, Query(max_length=20)] = None,
    region: ShortFilter = None,
    industry: ShortFilter = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    updated_since: Timestamp | None = None,
) -> CustomerPage:
    page = await customers.list_customers(
        session,
        actor=actor,
        limit=limit,
        cursor=cursor,
        sort=sort,
        owner_id=owner_id,
        tier=tier,
        region=region,
        industry=industry,
        q=q,
        updated_since=updated_since,
    )
    return CustomerPage(
        items=await customers_out(session, actor, now, page.items), next_cursor=page.next_cursor
    )


@router.get(
    "/{customer_id:uuid}",
    response_model=CustomerOut,
    responses={200: {"headers": _ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_customer(
    session: SessionDep, actor: CanRead, now: NowDep, customer_id: uuid.UUID, response: Response
) -> CustomerOut:
    customer = await customers.get_customer(session, actor=actor, customer_id=customer_id)
    response.headers["ETag"] = etag_for(customer.version)
    return (await customers_out(session, actor, now, [customer]))[0]


@router.patch(
    "/{customer_id:uuid}",
    response_model=CustomerOut,
    responses={200: {"headers": _ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
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
    return (await customers_out(session, actor, now, [customer]))[0]


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
    return TimelinePage(
        items=[TimelineItemOut.model_validate(item) for item in page.items], next_cursor=page.next_cursor
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
    return ContactOut.model_validate(contact)


@router.get(
    "/{customer_id:uuid}/contacts",
    response_model=ContactPage,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_contacts(
    session: SessionDep, actor: CanRead, customer_id: uuid.UUID, limit: Limit = 50, cursor: Cursor = None
) -> ContactPage:
    page = await customers.list_contacts(
        session, actor=actor, customer_id=customer_id, limit=limit, cursor=cursor
    )
    return ContactPage(items=[ContactOut.model_validate(c) for c in page.items], next_cursor=page.next_cursor)
