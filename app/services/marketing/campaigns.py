"""Marketing campaigns: create, list, edit, archive, and the cost entries the campaign-roi KPI
sums; the campaign a lead or a deal names is resolved here, within the caller's organization."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.marketing.campaigns import CampaignChannel
from app.domain.models import Campaign, CampaignCost, Organization
from app.domain.platform.errors import Conflict, FieldError, InvalidInput, NotFound
from app.services.platform import audit
from app.services.platform.common import check_version, get_visible, like_pattern
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page, SortOrder, paginate

CAMPAIGN_FIELDS = ("name", "channel", "starts_on", "ends_on", "budget", "currency", "is_archived", "notes")
COST_FIELDS = ("campaign_id", "incurred_on", "amount", "currency", "note")


@dataclass(frozen=True)
class NewCampaign:
    name: str
    channel: CampaignChannel
    starts_on: date | None = None
    ends_on: date | None = None
    budget: Decimal | None = None
    currency: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class CampaignFilters:
    channel: list[CampaignChannel] | None = None
    active_on: date | None = None
    is_archived: bool | None = None
    q: str | None = None


@dataclass(frozen=True)
class NewCost:
    incurred_on: date
    amount: Decimal
    currency: str | None = None
    note: str | None = None


def _check_period(starts_on: date | None, ends_on: date | None) -> None:
    if starts_on is not None and ends_on is not None and ends_on < starts_on:
        raise InvalidInput(
            "A campaign ends on or after the day it starts.",
            code="campaign.invalid_period",
            errors=[FieldError("ends_on", "before_start", "on or after starts_on")],
        )


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"A campaign named {name!r} exists.",
        code="campaign.name_taken",
        errors=[FieldError("name", "unique", "another campaign has this name")],
    )


async def _flush_unique_name(
    session: AsyncSession, campaign: Campaign, changes: dict[str, Any] | None = None
) -> None:
    """Writes the campaign (with `changes`) in a savepoint: the unique (organization, name) key
    decides between two simultaneous writers, and a refusal leaves the transaction usable."""
    name = (changes or {}).get("name", campaign.name)
    try:
        async with session.begin_nested():
            session.add(campaign)
            for field_name, value in (changes or {}).items():
                setattr(campaign, field_name, value)
            await session.flush()
    except IntegrityError as exc:
        raise _name_taken(name) from exc


async def create_campaign(session: AsyncSession, *, actor: Principal, data: NewCampaign) -> Campaign:
    _check_period(data.starts_on, data.ends_on)
    currency = data.currency or await session.scalar(
        select(Organization.currency).where(Organization.id == actor.organization_id)
    )
    campaign = Campaign(
        organization_id=actor.organization_id,
        name=data.name,
        channel=data.channel,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        budget=data.budget,
        currency=currency or "CNY",
        notes=data.notes,
        is_archived=False,
        created_by_id=actor.user_id,
    )
    await _flush_unique_name(session, campaign)
    await audit.record_audit(
        session,
        actor=actor,
        action="campaign.created",
        entity_type="campaign",
        entity_id=campaign.id,
        after=audit.snapshot(campaign, CAMPAIGN_FIELDS),
    )
    return campaign


async def get_campaign(
    session: AsyncSession, *, actor: Principal, campaign_id: uuid.UUID, for_update: bool = False
) -> Campaign:
    """Campaigns are the organization's: whoever may read campaigns sees them all."""
    return await get_visible(session, Campaign, campaign_id, actor=actor, for_update=for_update)


_CAMPAIGN_SORTABLE = {"created_at": Campaign.created_at, "updated_at": Campaign.updated_at}


async def list_campaigns(
    session: AsyncSession,
    *,
    actor: Principal,
    filters: CampaignFilters,
    limit: int,
    cursor: str | None,
    options: ListOptions = NO_OPTIONS,
    sort: str = "-created_at",
) -> Page[Campaign]:
    order = SortOrder.parse(sort, _CAMPAIGN_SORTABLE)
    statement = select(Campaign).where(Campaign.organization_id == actor.organization_id)
    if filters.channel:
        statement = statement.where(Campaign.channel.in_(filters.channel))
    if filters.is_archived is not None:
        statement = statement.where(Campaign.is_archived.is_(filters.is_archived))
    if filters.active_on is not None:
        day = filters.active_on
        statement = statement.where(
            or_(Campaign.starts_on.is_(None), Campaign.starts_on <= day),
            or_(Campaign.ends_on.is_(None), Campaign.ends_on >= day),
        )
    if filters.q:
        statement = statement.where(Campaign.name.ilike(like_pattern(filters.q), escape="\\"))
    return await paginate(
        session,
        statement,
        sort_column=_CAMPAIGN_SORTABLE[order.name],
        id_column=Campaign.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )


async def update_campaign(
    session: AsyncSession,
    *,
    actor: Principal,
    campaign_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
) -> Campaign:
    """Name, channel, period, budget, notes and the archived flag; the currency stays (the costs
    booked are in it)."""
    campaign = await get_campaign(session, actor=actor, campaign_id=campaign_id, for_update=True)
    _check_period(changes.get("starts_on", campaign.starts_on), changes.get("ends_on", campaign.ends_on))
    check_version(campaign, expected_version)
    before = audit.snapshot(campaign, CAMPAIGN_FIELDS)
    await _flush_unique_name(session, campaign, changes)
    await audit.record_edit(session, actor, campaign, before, entity_type="campaign")
    return campaign


_COST_SORTABLE = {"created_at": CampaignCost.created_at, "updated_at": CampaignCost.updated_at}


async def list_costs(
    session: AsyncSession,
    *,
    actor: Principal,
    campaign_id: uuid.UUID,
    limit: int,
    cursor: str | None,
    options: ListOptions = NO_OPTIONS,
    sort: str = "-created_at",
) -> Page[CampaignCost]:
    """The campaign's costs, newest first; 404 for a campaign the actor may not see."""
    order = SortOrder.parse(sort, _COST_SORTABLE)
    campaign = await get_campaign(session, actor=actor, campaign_id=campaign_id)
    return await paginate(
        session,
        select(CampaignCost).where(
            CampaignCost.organization_id == actor.organization_id, CampaignCost.campaign_id == campaign.id
        ),
        sort_column=_COST_SORTABLE[order.name],
        id_column=CampaignCost.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )


async def add_cost(
    session: AsyncSession, *, actor: Principal, campaign_id: uuid.UUID, data: NewCost
) -> CampaignCost:
    """A cost entry in the campaign's currency (another is refused: nothing is converted)."""
    campaign = await get_campaign(session, actor=actor, campaign_id=campaign_id)
    if data.currency is not None and data.currency != campaign.currency:
        raise InvalidInput(
            f"The campaign's costs are in {campaign.currency}.",
            code="campaign_cost.currency_mismatch",
            errors=[FieldError("currency", "mismatch", f"the campaign's currency, {campaign.currency}")],
        )
    cost = CampaignCost(
        organization_id=actor.organization_id,
        campaign_id=campaign.id,
        incurred_on=data.incurred_on,
        amount=data.amount.quantize(Decimal("0.01")),
        currency=campaign.currency,
        note=data.note,
        created_by_id=actor.user_id,
    )
    session.add(cost)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="campaign_cost.created",
        entity_type="campaign_cost",
        entity_id=cost.id,
        after=audit.snapshot(cost, COST_FIELDS),
    )
    return cost


async def delete_cost(
    session: AsyncSession,
    *,
    actor: Principal,
    campaign_id: uuid.UUID,
    cost_id: uuid.UUID,
    expected_version: int | None,
) -> None:
    """A cost booked by mistake is deleted (the audit trail keeps what it was)."""
    campaign = await get_campaign(session, actor=actor, campaign_id=campaign_id)
    cost = await session.scalar(
        select(CampaignCost)
        .where(
            CampaignCost.id == cost_id,
            CampaignCost.organization_id == actor.organization_id,
            CampaignCost.campaign_id == campaign.id,
        )
        .with_for_update()
    )
    if cost is None:
        raise NotFound(f"Cost entry {cost_id} was not found.", code="campaign_cost.not_found")
    check_version(cost, expected_version)
    before = audit.snapshot(cost, COST_FIELDS)
    await session.delete(cost)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="campaign_cost.deleted",
        entity_type="campaign_cost",
        entity_id=cost_id,
        before=before,
    )


async def check_campaign(
    session: AsyncSession, actor: Principal, campaign_id: uuid.UUID | None, *, field: str = "campaign_id"
) -> None:
    """A campaign a lead or a deal names is one of the organization's; another tenant's id is
    refused like an unknown one (422 naming the field), archived ones are accepted (late imports)."""
    if campaign_id is None:
        return
    found = await session.scalar(
        select(Campaign.id).where(
            Campaign.id == campaign_id, Campaign.organization_id == actor.organization_id
        )
    )
    if found is None:
        raise InvalidInput(
            f"No campaign {campaign_id} in this organization.",
            code="campaign.unknown",
            errors=[FieldError(field, "not_found", "no such campaign")],
        )


def _as_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


async def campaigns_named(
    session: AsyncSession, organization_id: uuid.UUID, references: Iterable[str]
) -> dict[str, uuid.UUID]:
    """An import's campaign cells: each the id or the exact name of one of the organization's
    campaigns. Answers the references found, each with its campaign's id."""
    texts = set(references)
    if not texts:
        return {}
    ids = {text: as_id for text in texts if (as_id := _as_id(text)) is not None}
    conditions = [Campaign.name.in_(sorted(texts))]
    if ids:
        conditions.append(Campaign.id.in_(sorted(set(ids.values()))))
    rows = (
        await session.execute(
            select(Campaign.id, Campaign.name).where(
                and_(Campaign.organization_id == organization_id, or_(*conditions))
            )
        )
    ).all()
    by_id = {campaign_id for campaign_id, _ in rows}
    found = {text: as_id for text, as_id in ids.items() if as_id in by_id}
    found.update({name: campaign_id for campaign_id, name in rows if name in texts})
    return found
