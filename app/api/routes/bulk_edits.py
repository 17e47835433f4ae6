"""POST /leads/bulk and /customers/bulk: one action on up to 200 records, a result per record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends

from app.api.deps import Idempotent, NowDep, SessionDep, require
from app.api.errors import problem_of, problem_responses
from app.api.routes import API_V1
from app.api.schemas.bulk_edits import (
    BulkItemOut,
    BulkResultOut,
    CustomerBulkIn,
    CustomerBulkReassign,
    LeadBulkIn,
)
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadStatus
from app.services.leads import bulk_edits
from app.services.leads.bulk_edits import BulkEdit, CustomerBulkAction, ItemOutcome, LeadBulkAction

router = APIRouter(prefix=API_V1, tags=["bulk edits"])

CanBulkEdit = Annotated[Principal, Depends(require(Permission.records_bulk_edit))]


def _result(action: str, outcomes: Sequence[ItemOutcome], path: str) -> BulkResultOut:
    results = [
        BulkItemOut(id=o.id, status="ok")
        if o.error is None
        else BulkItemOut(id=o.id, status="error", problem=problem_of(o.error, instance=f"{path}/{o.id}"))
        for o in outcomes
    ]
    failed = sum(1 for o in outcomes if o.error is not None)
    return BulkResultOut(action=action, succeeded=len(outcomes) - failed, failed=failed, results=results)


@router.post(
    "/leads/bulk",
    response_model=BulkResultOut,
    responses=problem_responses(401, 403, 413, 422),
    dependencies=[Idempotent],
)
async def bulk_edit_leads(
    session: SessionDep, actor: CanBulkEdit, now: NowDep, body: LeadBulkIn
) -> BulkResultOut:
    """Assigns, releases to the pool, tags, untags, qualifies or disqualifies each lead (up to 200,
    supervisors and above) through the single route's use case: each is audited and announced as
    that route does, and one that fails (a 404, 409 or 422 of its own, named in `problem`) changes
    nothing and leaves the others done. 200 with a result per id, in request order."""
    edit = BulkEdit(
        owner_id=getattr(body, "owner_id", None),
        tags=tuple(getattr(body, "tags", ())),
        status=LeadStatus(body.status) if body.action == "set_status" else None,
        reason=body.reason if hasattr(body, "reason") else None,
    )
    outcomes = await bulk_edits.edit_leads(
        session, actor=actor, action=LeadBulkAction(body.action), lead_ids=body.lead_ids, edit=edit, now=now
    )
    return _result(body.action, outcomes, f"{API_V1}/leads")


@router.post(
    "/customers/bulk",
    response_model=BulkResultOut,
    responses=problem_responses(401, 403, 413, 422),
    dependencies=[Idempotent],
)
async def bulk_edit_customers(session: SessionDep, actor: CanBulkEdit, body: CustomerBulkIn) -> BulkResultOut:
    """Reassigns (owner_id), tags or untags each customer (up to 200, supervisors and above) as
    `PATCH /customers/{id}` would: audited per customer; one that fails changes nothing and leaves
    the others done. 200 with a result per id, in request order."""
    edit = (
        BulkEdit(owner_id=body.owner_id)
        if isinstance(body, CustomerBulkReassign)
        else BulkEdit(tags=tuple(body.tags))
    )
    outcomes = await bulk_edits.edit_customers(
        session,
        actor=actor,
        action=CustomerBulkAction(body.action),
        customer_ids=body.customer_ids,
        edit=edit,
    )
    return _result(body.action, outcomes, f"{API_V1}/customers")
