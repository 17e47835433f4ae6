"""/campaigns: marketing campaigns (channel, period, budget) and their cost entries, which the
campaign-roi KPI sums (issue 21, point 2)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.api.deps import (
    ETAG_HEADER,
    CreatedSort,
    Cursor,
    ExpectedVersion,
    Idempotent,
    Limit,
    ListOptionsDep,
    SessionDep,
    TrueOrFalse,
    etag_for,
    require,
)
from app.api.display_names import with_name, with_names
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.campaigns import (
    CampaignCostCreate,
    CampaignCostOut,
    CampaignCostPage,
    CampaignCreate,
    CampaignOut,
    CampaignPage,
    CampaignUpdate,
)
from app.api.schemas.common import Day
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.marketing.campaigns import CampaignChannel
from app.domain.models import Campaign
from app.services.marketing import campaigns

router = APIRouter(prefix=f"{API_V1}/campaigns", tags=["campaigns"])

CanRead = Annotated[Principal, Depends(require(Permission.campaigns_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.campaigns_write))]


def _out(campaign: Campaign, response: Response | None = None) -> CampaignOut:
    out = CampaignOut.model_validate(campaign)
    if response is not None:
        response.headers["ETag"] = etag_for(out.version)
    return out


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignOut,
    responses=problem_responses(401, 403, 409, 413, 422),
    dependencies=[Idempotent],
)
async def create_campaign(
    session: SessionDep, actor: CanWrite, body: CampaignCreate, response: Response
) -> CampaignOut:
    """A campaign of a channel, with its period and budget (409 `campaign.name_taken` for a name
    the organization already uses)."""
    campaign = await campaigns.create_campaign(
        session, actor=actor, data=campaigns.NewCampaign(**body.model_dump())
    )
    response.headers["Location"] = f"{API_V1}/campaigns/{campaign.id}"
    return await with_name(session, actor, _out(campaign, response))


@router.get("", response_model=CampaignPage, responses=problem_responses(401, 403, 422))
async def list_campaigns(
    session: SessionDep,
    actor: CanRead,
    options: ListOptionsDep,
    channel: Annotated[list[CampaignChannel] | None, Query(max_length=7)] = None,
    active_on: Annotated[
        Day | None, Query(description="Only campaigns running that day (its period includes it).")
    ] = None,
    is_archived: Annotated[
        TrueOrFalse | None, Query(description="false: the running list; true: the archive.")
    ] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="Part of the name.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: CreatedSort = "-created_at",
) -> CampaignPage:
    """The organization's campaigns, newest first. A filter given several times means any of its
    values."""
    page = await campaigns.list_campaigns(
        session,
        actor=actor,
        filters=campaigns.CampaignFilters(channel=channel, active_on=active_on, is_archived=is_archived, q=q),
        limit=limit,
        cursor=cursor,
        options=options,
        sort=sort,
    )
    return CampaignPage.of(page, await with_names(session, actor, [_out(c) for c in page.items]))


@router.get(
    "/{campaign_id:uuid}",
    response_model=CampaignOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_campaign(
    session: SessionDep, actor: CanRead, campaign_id: uuid.UUID, response: Response
) -> CampaignOut:
    campaign = await campaigns.get_campaign(session, actor=actor, campaign_id=campaign_id)
    return await with_name(session, actor, _out(campaign, response))


@router.patch(
    "/{campaign_id:uuid}",
    response_model=CampaignOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_campaign(
    session: SessionDep,
    actor: CanWrite,
    campaign_id: uuid.UUID,
    body: CampaignUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> CampaignOut:
    """Edits name, channel, period, budget and notes, or archives the campaign (`is_archived`);
    the currency stays that of its costs."""
    campaign = await campaigns.update_campaign(
        session,
        actor=actor,
        campaign_id=campaign_id,
        changes=body.changes(),
        expected_version=expected_version,
    )
    return await with_name(session, actor, _out(campaign, response))


@router.get(
    "/{campaign_id:uuid}/costs",
    response_model=CampaignCostPage,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_campaign_costs(
    session: SessionDep,
    actor: CanRead,
    options: ListOptionsDep,
    campaign_id: uuid.UUID,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: CreatedSort = "-created_at",
) -> CampaignCostPage:
    """The campaign's cost entries, the latest booked first."""
    page = await campaigns.list_costs(
        session, actor=actor, campaign_id=campaign_id, limit=limit, cursor=cursor, options=options, sort=sort
    )
    return CampaignCostPage.of(
        page, await with_names(session, actor, [CampaignCostOut.model_validate(cost) for cost in page.items])
    )


@router.post(
    "/{campaign_id:uuid}/costs",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignCostOut,
    responses=problem_responses(401, 403, 404, 413, 422),
    dependencies=[Idempotent],
)
async def add_campaign_cost(
    session: SessionDep, actor: CanWrite, campaign_id: uuid.UUID, body: CampaignCostCreate
) -> CampaignCostOut:
    """Money spent on the campaign on a day, in its currency (422 `campaign_cost.currency_mismatch`
    for another)."""
    cost = await campaigns.add_cost(
        session, actor=actor, campaign_id=campaign_id, data=campaigns.NewCost(**body.model_dump())
    )
    return await with_name(session, actor, CampaignCostOut.model_validate(cost))


@router.delete(
    "/{campaign_id:uuid}/costs/{cost_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 412, 422),
)
async def delete_campaign_cost(
    session: SessionDep,
    actor: CanWrite,
    campaign_id: uuid.UUID,
    cost_id: uuid.UUID,
    expected_version: ExpectedVersion,
) -> None:
    """Deletes a cost entry booked by mistake (the audit trail keeps it)."""
    await campaigns.delete_cost(
        session, actor=actor, campaign_id=campaign_id, cost_id=cost_id, expected_version=expected_version
    )
