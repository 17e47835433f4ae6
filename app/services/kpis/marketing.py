"""Marketing KPIs (issue 21, point 3): campaign-roi (leads, effective leads, cost, deals and ROI
per campaign or channel) and source-quality (sales' feedback and disqualification reasons per
source and campaign). Definitions: docs/kpis.md."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadStatus
from app.domain.marketing.campaigns import cost_days, money_ratio, roi
from app.domain.models import Campaign, CampaignCost, Lead, Opportunity, OpportunityStatus
from app.domain.reports.kpis import Dimension, KpiQuery, ratio
from app.services.kpis.deals import OPPORTUNITY_FACTS
from app.services.kpis.leads import LEAD_FACTS
from app.services.kpis.scope import in_period, scoped

_CENT = Decimal("0.01")


def _decimal(value: Any) -> Decimal:
    """A summed amount as an exact decimal (SQLite hands sums of decimals back as floats)."""
    return Decimal(str(value or 0)).quantize(_CENT)


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


@dataclass
class CampaignFigures:
    leads: int = 0
    effective_leads: int = 0
    cost: Decimal = Decimal("0.00")
    opportunities: int = 0
    won_count: int = 0
    won_amount: Decimal = Decimal("0.00")

    def add(self, other: CampaignFigures) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


# An effective lead: qualified, or followed up effectively at least once (docs/kpis.md).
EFFECTIVE_LEAD = or_(Lead.qualified_at.is_not(None), Lead.last_effective_follow_up_at.is_not(None))


async def _lead_figures(
    session: AsyncSession, actor: Principal, query: KpiQuery, figures: dict[uuid.UUID, CampaignFigures]
) -> None:
    """Per campaign, the leads received in the period that the caller sees, and the effective ones."""
    statement = (
        select(Lead.campaign_id, func.count().label("leads"), _count(EFFECTIVE_LEAD).label("effective"))
        .where(
            *scoped(actor, LEAD_FACTS, query),
            in_period(Lead.created_at, query),
            Lead.campaign_id.is_not(None),
        )
        .group_by(Lead.campaign_id)
    )
    for row in await session.execute(statement):
        figures[row.campaign_id].leads = row.leads
        figures[row.campaign_id].effective_leads = row.effective


async def _deal_figures(
    session: AsyncSession, actor: Principal, query: KpiQuery, figures: dict[uuid.UUID, CampaignFigures]
) -> None:
    """Per campaign, the deals created in the period, and those won (currently) with their close in
    the period and their amounts."""
    created = in_period(Opportunity.created_at, query)
    won = and_(Opportunity.status == OpportunityStatus.won, in_period(Opportunity.closed_at, query))
    statement = (
        select(
            Opportunity.campaign_id,
            _count(created).label("opportunities"),
            _count(won).label("won_count"),
            func.coalesce(func.sum(case((won, func.coalesce(Opportunity.amount, 0)), else_=0)), 0).label(
                "won_amount"
            ),
        )
        .where(
            *scoped(actor, OPPORTUNITY_FACTS, query), Opportunity.campaign_id.is_not(None), or_(created, won)
        )
        .group_by(Opportunity.campaign_id)
    )
    for row in await session.execute(statement):
        entry = figures[row.campaign_id]
        entry.opportunities, entry.won_count = row.opportunities, row.won_count
        entry.won_amount = _decimal(row.won_amount)


async def _cost_figures(
    session: AsyncSession, actor: Principal, query: KpiQuery, figures: dict[uuid.UUID, CampaignFigures]
) -> None:
    """Per campaign, its cost entries incurred on the period's days: the whole campaign's, whoever
    asks (a cost has no owner)."""
    first, after_last = cost_days(query.start, query.end, ZoneInfo(query.timezone))
    statement = (
        select(CampaignCost.campaign_id, func.sum(CampaignCost.amount).label("cost"))
        .where(
            CampaignCost.organization_id == actor.organization_id,
            CampaignCost.incurred_on >= first,
            CampaignCost.incurred_on < after_last,
        )
        .group_by(CampaignCost.campaign_id)
    )
    for row in await session.execute(statement):
        figures[row.campaign_id].cost = _decimal(row.cost)


async def _campaigns(
    session: AsyncSession, actor: Principal, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str]]:
    """Each campaign's name and channel."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(Campaign.id, Campaign.name, Campaign.channel).where(
            Campaign.organization_id == actor.organization_id, Campaign.id.in_(wanted)
        )
    )
    return {row.id: (row.name, row.channel.value) for row in rows}


def _roi_row(campaign: dict[str, str] | None, channel: str, f: CampaignFigures) -> dict[str, Any]:
    return {
        "campaign": campaign,
        "channel": {"id": channel, "name": channel},
        "leads": f.leads,
        "effective_leads": f.effective_leads,
        "effective_rate": ratio(f.effective_leads, f.leads),
        "cost": str(f.cost),
        "cost_per_lead": money_ratio(f.cost, f.leads),
        "cost_per_effective_lead": money_ratio(f.cost, f.effective_leads),
        "opportunities": f.opportunities,
        "won_count": f.won_count,
        "won_amount": str(f.won_amount),
        "net_return": str(f.won_amount - f.cost),
        "roi": roi(f.won_amount, f.cost),
    }


async def campaign_roi(session: AsyncSession, *, actor: Principal, query: KpiQuery) -> list[dict[str, Any]]:
    """Per campaign with anything to count in the period (leads, costs or deals), or per channel
    (group_by=channel): leads, effective leads, cost, cost per (effective) lead, deals, won deals
    and amount, and ROI = (won amount - cost) / cost."""
    figures: dict[uuid.UUID, CampaignFigures] = defaultdict(CampaignFigures)
    await _lead_figures(session, actor, query, figures)
    await _deal_figures(session, actor, query, figures)
    await _cost_figures(session, actor, query, figures)
    campaigns = await _campaigns(session, actor, figures)
    ordered = sorted(campaigns.items(), key=lambda item: (item[1][1], item[1][0], str(item[0])))
    if Dimension.channel not in query.group_by:
        return [
            _roi_row({"id": str(campaign_id), "name": name}, channel, figures[campaign_id])
            for campaign_id, (name, channel) in ordered
        ]
    channels: dict[str, CampaignFigures] = {}
    for campaign_id, (_, channel) in ordered:
        channels.setdefault(channel, CampaignFigures()).add(figures[campaign_id])
    return [_roi_row(None, channel, total) for channel, total in channels.items()]


def _reasons(counts: dict[str, int]) -> list[dict[str, Any]]:
    """Reasons with their counts, the most frequent first."""
    return [
        {"reason": reason, "count": count}
        for reason, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _reason_counts(
    session: AsyncSession, actor: Principal, query: KpiQuery
) -> tuple[dict[tuple[str, Any], dict[str, int]], dict[tuple[str, Any], dict[str, int]]]:
    """Per (source, campaign): how often each feedback reason was given, and each
    disqualification reason, on the leads received in the period."""
    received = [*scoped(actor, LEAD_FACTS, query), in_period(Lead.created_at, query)]
    if _dialect(session) == "postgresql":
        reasons = (
            func.jsonb_array_elements_text(Lead.feedback_reasons).table_valued("value").lateral("kpi_reason")
        )
    else:
        reasons = func.json_each(Lead.feedback_reasons).table_valued("value").alias("kpi_reason")
    keys = (Lead.source, Lead.campaign_id)
    feedback = (
        select(*keys, reasons.c.value.label("reason"), func.count().label("n"))
        .select_from(Lead)
        .join(reasons, true())
        .where(*received, Lead.feedback_quality.is_not(None))
        .group_by(*keys, reasons.c.value)
    )
    disqualified = (
        select(*keys, Lead.disqualified_reason.label("reason"), func.count().label("n"))
        .where(*received, Lead.status == LeadStatus.disqualified)
        .group_by(*keys, Lead.disqualified_reason)
    )
    found: list[dict[tuple[str, Any], dict[str, int]]] = []
    for statement in (feedback, disqualified):
        counts: dict[tuple[str, Any], dict[str, int]] = defaultdict(dict)
        for row in await session.execute(statement):
            counts[(row.source.value, row.campaign_id)][row.reason or ""] = row.n
        found.append(counts)
    return found[0], found[1]


async def source_quality(session: AsyncSession, *, actor: Principal, query: KpiQuery) -> list[dict[str, Any]]:
    """Per source and campaign of the leads received in the period: how many sales rated, their
    mean rating, the reasons they gave, and the disqualified leads with their reasons."""
    statement = (
        select(
            Lead.source,
            Lead.campaign_id,
            func.count().label("leads"),
            func.count(Lead.feedback_quality).label("rated"),
            func.coalesce(func.sum(Lead.feedback_quality), 0).label("quality_total"),
            _count(Lead.status == LeadStatus.disqualified).label("disqualified"),
        )
        .where(*scoped(actor, LEAD_FACTS, query), in_period(Lead.created_at, query))
        .group_by(Lead.source, Lead.campaign_id)
    )
    groups = (await session.execute(statement)).all()
    feedback, disqualified = await _reason_counts(session, actor, query)
    names = await _campaigns(session, actor, (row.campaign_id for row in groups if row.campaign_id))
    rows = []
    for row in groups:
        key = (row.source.value, row.campaign_id)
        campaign = names.get(row.campaign_id) if row.campaign_id else None
        rows.append(
            {
                "source": {"id": row.source.value, "name": row.source.value},
                "campaign": {"id": str(row.campaign_id), "name": campaign[0]} if campaign else None,
                "leads": row.leads,
                "with_feedback": row.rated,
                "feedback_rate": ratio(row.rated, row.leads),
                "feedback_quality_total": int(row.quality_total),
                "avg_feedback_quality": None
                if not row.rated
                else round(int(row.quality_total) / row.rated, 2),
                "feedback_reasons": _reasons(feedback.get(key, {})),
                "disqualified": row.disqualified,
                "disqualified_rate": ratio(row.disqualified, row.leads),
                "disqualification_reasons": _reasons(disqualified.get(key, {})),
            }
        )
    return sorted(rows, key=lambda r: (r["source"]["id"], r["campaign"]["name"] if r["campaign"] else ""))
