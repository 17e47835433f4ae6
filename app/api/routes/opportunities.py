"""/opportunities: deals moving through a pipeline's gated stages."""

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
    Ids,
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
from app.api.list_filters import ClosedPeriod, CreatedPeriod, IdFilter, OwnerIds, SearchText, TeamIds
from app.api.routes import API_V1
from app.api.schemas.pipelines import (
    LoseIn,
    OpportunityCreate,
    OpportunityOut,
    OpportunityPage,
    OpportunityUpdate,
    ReopenIn,
    StageChangeIn,
    StageHistoryOut,
    StageStayOut,
    WinIn,
)
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.models import Opportunity, OpportunityStatus
from app.services.pipelines import opportunities

router = APIRouter(prefix=f"{API_V1}/opportunities", tags=["opportunities"])

CanRead = Annotated[Principal, Depends(require(Permission.opportunities_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.opportunities_write))]
_GATE_422 = {
    "description": "The target stage's gate is not met: `errors` lists every unmet requirement "
    "(field, code such as stage.field_missing or stage.evidence_activity, message)."
}


async def opportunities_out(
    session: AsyncSession, actor: Principal, records: Sequence[Opportunity]
) -> list[OpportunityOut]:
    engaged = await opportunities.engaged_times(session, actor=actor, opportunity_ids=[o.id for o in records])
    return await with_names(
        session,
        actor,
        [
            OpportunityOut.model_validate(o).model_copy(update={"engaged_at": engaged.get(o.id)})
            for o in records
        ],
    )


async def _answer(
    session: AsyncSession, actor: Principal, opportunity: Opportunity, response: Response
) -> OpportunityOut:
    (out,) = await opportunities_out(session, actor, [opportunity])
    response.headers["ETag"] = etag_for(out.version)
    return out


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OpportunityOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def create_opportunity(
    session: SessionDep, actor: CanWrite, now: NowDep, body: OpportunityCreate, response: Response
) -> OpportunityOut:
    """Starts in the pipeline's first stage; its action pack's tasks are created at once."""
    opportunity = await opportunities.create_opportunity(
        session, actor=actor, data=opportunities.NewOpportunity(**body.model_dump()), now=now
    )
    response.headers["Location"] = f"{API_V1}/opportunities/{opportunity.id}"
    return await _answer(session, actor, opportunity, response)


OpportunitySort = Annotated[
    str,
    Query(
        pattern=r"^-?(created_at|updated_at|win_probability|name|amount|expected_close_date)$",
        description="-win_probability: the likeliest to win first (whom to follow up first); "
        "amount and expected_close_date: deals without one come last either way. " + SORT_BY_CHANGE,
    ),
]


@router.get(
    "", response_model=OpportunityPage, responses={**EXPORT_RESPONSES, **problem_responses(401, 403, 422)}
)
async def list_opportunities(
    session: SessionDep,
    actor: CanRead,
    export: ListExportDep,
    options: ListOptionsDep,
    created: CreatedPeriod,
    closed: ClosedPeriod,
    limit: Limit = 50,
    cursor: Cursor = None,
    status_: Annotated[list[OpportunityStatus] | None, Query(alias="status", max_length=20)] = None,
    owner_id: OwnerIds = None,
    team_id: TeamIds = None,
    customer_id: IdFilter = None,
    lead_id: Annotated[
        list[uuid.UUID] | None,
        Query(max_length=20, description="Converted from this lead (its source); repeat for any of several."),
    ] = None,
    pipeline_id: IdFilter = None,
    stage_id: IdFilter = None,
    external_id: Annotated[
        str | None, Query(max_length=64, description="The id in the system it was imported from.")
    ] = None,
    q: SearchText = None,
    sort: OpportunitySort = "-created_at",
    ids: Ids = None,
) -> OpportunityPage | Response:
    """Newest first unless sorted otherwise; a rep sees their own, a supervisor their teams'. `q`
    looks in the deal's name and in its customer's name and code. A filter given several times
    means any of its values."""

    async def read_page(limit: int, cursor: str | None) -> OpportunityPage:
        page = await opportunities.list_opportunities(
            session,
            actor=actor,
            options=options,
            limit=limit,
            cursor=cursor,
            status=status_,
            owner_id=owner_id,
            customer_id=customer_id,
            lead_id=lead_id,
            pipeline_id=pipeline_id,
            stage_id=stage_id,
            external_id=external_id,
            team_id=team_id,
            q=q,
            created=created,
            closed=closed,
            sort=sort,
            ids=ids,
        )
        return OpportunityPage.of(page, await opportunities_out(session, actor, page.items))

    return await export.answer(read_page, limit=limit, cursor=cursor)


@router.get(
    "/{opportunity_id:uuid}",
    response_model=OpportunityOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_opportunity(
    session: SessionDep, actor: CanRead, opportunity_id: uuid.UUID, response: Response
) -> OpportunityOut:
    opportunity = await opportunities.get_opportunity(session, actor=actor, opportunity_id=opportunity_id)
    return await _answer(session, actor, opportunity, response)


@router.patch(
    "/{opportunity_id:uuid}",
    response_model=OpportunityOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_opportunity(
    session: SessionDep,
    actor: CanWrite,
    opportunity_id: uuid.UUID,
    body: OpportunityUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> OpportunityOut:
    """Fields only; the stage changes through /stage-changes, /win, /lose and /reopen."""
    opportunity = await opportunities.update_opportunity(
        session,
        actor=actor,
        opportunity_id=opportunity_id,
        changes=body.changes(),
        expected_version=expected_version,
    )
    return await _answer(session, actor, opportunity, response)


@router.post(
    "/{opportunity_id:uuid}/stage-changes",
    response_model=OpportunityOut,
    responses={422: _GATE_422, **problem_responses(401, 403, 404, 409, 413, 422)},
)
async def change_opportunity_stage(
    session: SessionDep,
    actor: CanWrite,
    now: NowDep,
    opportunity_id: uuid.UUID,
    body: StageChangeIn,
    response: Response,
) -> OpportunityOut:
    """Forward one stage at a time; skipping ahead or moving back needs a reason and a supervisor
    or above (403 otherwise) and is flagged abnormal in the stage history."""
    opportunity = await opportunities.change_stage(
        session,
        actor=actor,
        opportunity_id=opportunity_id,
        change=opportunities.StageChange(
            to_stage_id=body.to_stage_id,
            note=body.note,
            reason=body.reason,
            attachment_ids=body.attachment_ids,
            fields=body.fields.changes(),
        ),
        now=now,
    )
    return await _answer(session, actor, opportunity, response)


@router.post(
    "/{opportunity_id:uuid}/win",
    response_model=OpportunityOut,
    responses={422: _GATE_422, **problem_responses(401, 403, 404, 409, 413, 422)},
)
async def win_opportunity(
    session: SessionDep,
    actor: CanWrite,
    now: NowDep,
    opportunity_id: uuid.UUID,
    body: WinIn,
    response: Response,
) -> OpportunityOut:
    """Moves to the pipeline's won stage through its gate."""
    opportunity = await opportunities.close_opportunity(
        session,
        actor=actor,
        opportunity_id=opportunity_id,
        won=True,
        note=body.note,
        lose_reason=None,
        fields=body.fields.changes(),
        attachment_ids=body.attachment_ids,
        now=now,
    )
    return await _answer(session, actor, opportunity, response)


@router.post(
    "/{opportunity_id:uuid}/lose",
    response_model=OpportunityOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
)
async def lose_opportunity(
    session: SessionDep,
    actor: CanWrite,
    now: NowDep,
    opportunity_id: uuid.UUID,
    body: LoseIn,
    response: Response,
) -> OpportunityOut:
    """A reason is required, one of the pipeline's lose reasons when it lists them."""
    opportunity = await opportunities.close_opportunity(
        session,
        actor=actor,
        opportunity_id=opportunity_id,
        won=False,
        note=body.note,
        lose_reason=body.reason,
        fields={},
        attachment_ids=[],
        now=now,
    )
    return await _answer(session, actor, opportunity, response)


@router.post(
    "/{opportunity_id:uuid}/reopen",
    response_model=OpportunityOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
)
async def reopen_opportunity(
    session: SessionDep,
    actor: CanWrite,
    now: NowDep,
    opportunity_id: uuid.UUID,
    body: ReopenIn,
    response: Response,
) -> OpportunityOut:
    """Back to the last open stage it was in, recorded as an abnormal backward move."""
    opportunity = await opportunities.reopen_opportunity(
        session, actor=actor, opportunity_id=opportunity_id, reason=body.reason, now=now
    )
    return await _answer(session, actor, opportunity, response)


@router.get(
    "/{opportunity_id:uuid}/stage-history",
    response_model=StageHistoryOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_opportunity_stage_history(
    session: SessionDep, actor: CanRead, opportunity_id: uuid.UUID
) -> StageHistoryOut:
    """Every stay in a stage, oldest first, with dwell time once left."""
    stays = await opportunities.stage_history(session, actor=actor, opportunity_id=opportunity_id)
    return StageHistoryOut(
        items=await with_names(session, actor, [StageStayOut.model_validate(s) for s in stays])
    )
