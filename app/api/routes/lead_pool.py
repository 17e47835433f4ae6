"""The public lead pool and ownership moves: claim, release, assign by hand."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.api.deps import (
    SORT_BY_CHANGE,
    Cursor,
    Idempotent,
    Limit,
    ListOptionsDep,
    NowDep,
    SessionDep,
    require,
)
from app.api.errors import problem_responses
from app.api.list_export import EXPORT_RESPONSES, ListExportDep
from app.api.routes import API_V1
from app.api.routes.leads import lead_out, leads_out
from app.api.schemas.assignment import AssignIn, ReleaseIn
from app.api.schemas.leads import LeadOut, LeadPage
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.services.leads import lead_pool

router = APIRouter(tags=["lead pool"])

CanRead = Annotated[Principal, Depends(require(Permission.leads_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.leads_write))]
CanClaim = Annotated[Principal, Depends(require(Permission.leads_claim))]
CanAssign = Annotated[Principal, Depends(require(Permission.leads_assign))]
ShortFilter = Annotated[str | None, Query(min_length=1, max_length=64)]


@router.get(
    f"{API_V1}/lead-pool",
    response_model=LeadPage,
    responses={**EXPORT_RESPONSES, **problem_responses(401, 403, 422)},
)
async def list_lead_pool(
    session: SessionDep,
    actor: CanRead,
    export: ListExportDep,
    options: ListOptionsDep,
    now: NowDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str, Query(pattern=r"^-?(pooled_at|updated_at)$", description=SORT_BY_CHANGE)
    ] = "-pooled_at",
    region: ShortFilter = None,
    product_line: ShortFilter = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> LeadPage | Response:
    """Leads nobody owns, newest in the pool first; any seller may claim one. Their phone, e-mail and
    WeChat id are masked until claimed (settings `lead_pool.mask_contacts`, default on) for all but
    admins, directors, API keys and whoever entered the lead."""

    async def read_page(limit: int, cursor: str | None) -> LeadPage:
        page = await lead_pool.list_pool(
            session,
            actor=actor,
            options=options,
            sort=sort,
            limit=limit,
            cursor=cursor,
            region=region,
            product_line=product_line,
            q=q,
        )
        return LeadPage.of(page, await leads_out(session, actor, now, page.items))

    return await export.answer(read_page, limit=limit, cursor=cursor)


@router.post(
    f"{API_V1}/leads/{{lead_id:uuid}}/claim",
    response_model=LeadOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def claim_lead(session: SessionDep, actor: CanClaim, now: NowDep, lead_id: uuid.UUID) -> LeadOut:
    """Takes a pooled lead. 409 when someone claimed it first, when you released it recently, or
    at your daily claim limit or open-lead cap (`code` says which)."""
    lead = await lead_pool.claim_lead(session, actor=actor, lead_id=lead_id, now=now)
    return await lead_out(session, actor, now, lead)


@router.post(
    f"{API_V1}/leads/{{lead_id:uuid}}/release",
    response_model=LeadOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def release_lead(
    session: SessionDep, actor: CanWrite, now: NowDep, lead_id: uuid.UUID, body: ReleaseIn
) -> LeadOut:
    """Gives a lead back to the pool with a reason; the owner may not claim it back for a while."""
    lead = await lead_pool.release_lead(session, actor=actor, lead_id=lead_id, reason=body.reason, now=now)
    return await lead_out(session, actor, now, lead)


@router.post(
    f"{API_V1}/leads/{{lead_id:uuid}}/assign",
    response_model=LeadOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def assign_lead(
    session: SessionDep, actor: CanAssign, now: NowDep, lead_id: uuid.UUID, body: AssignIn
) -> LeadOut:
    """Assigns or reassigns a lead by hand, with a reason; audited and notified."""
    lead = await lead_pool.assign_manually(
        session, actor=actor, lead_id=lead_id, user_id=body.user_id, reason=body.reason, now=now
    )
    return await lead_out(session, actor, now, lead)
