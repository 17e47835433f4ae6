"""Lead intent score kept on the lead: its inputs read for a set of leads at once, the score and its
breakdown written in the transaction that changed one of them (an activity, an engagement, an edit)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.domain.activities.activities import ActivityType, InfoPoint
from app.domain.leads.leads import OPEN_STATUSES, LeadSource
from app.domain.models import Activity, EngagementEvent, Lead, Organization
from app.domain.organization.policy import OrganizationPolicy
from app.domain.scores.engagement import EngagementType, TemperatureReading
from app.domain.scores.lead_intent import IntentInputs, IntentScore, score_lead
from app.services.organization.policy import rules_for


def score_columns(result: IntentScore, now: datetime) -> dict[str, Any]:
    """The lead's columns that hold a score."""
    return {
        "score": result.score,
        "score_breakdown": [item.as_json() for item in result.breakdown],
        "scored_at": now,
    }


def score_of_new_lead(policy: OrganizationPolicy, source: str, budget: Any, now: datetime) -> dict[str, Any]:
    """A lead being created: only its source and budget can count yet."""
    inputs = IntentInputs.of_new_lead(str(source), budget_known=budget is not None)
    return score_columns(score_lead(inputs, policy.lead_intent), now)


class _Worked:
    """What the leads' activities tell: recent activities, meetings, info points learnt."""

    def __init__(self) -> None:
        self.recent: Counter[uuid.UUID] = Counter()
        self.meetings: Counter[uuid.UUID] = Counter()
        self.learnt: dict[uuid.UUID, set[str]] = {}


async def _worked(
    session: AsyncSession, organization_id: uuid.UUID, lead_ids: list[uuid.UUID], since: datetime
) -> _Worked:
    # Each lead's activities by the (organization, lead, occurred_at) index; a lead has tens, not
    # thousands, and the info points are read in Python, as the two dialects spell JSON keys apart.
    rows = await session.execute(
        select(Activity.lead_id, Activity.type, Activity.occurred_at, Activity.info_points).where(
            Activity.organization_id == organization_id, Activity.lead_id.in_(lead_ids)
        )
    )
    worked = _Worked()
    for lead_id, kind, occurred_at, info_points in rows:
        # A note is written at the desk: it tells what was learnt, but is no contact.
        if kind is not ActivityType.note and occurred_at >= since:
            worked.recent[lead_id] += 1
        if kind is ActivityType.meeting:
            worked.meetings[lead_id] += 1
        worked.learnt.setdefault(lead_id, set()).update(key for key, value in info_points.items() if value)
    return worked


async def _meetings_attended(
    session: AsyncSession, organization_id: uuid.UUID, lead_ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(EngagementEvent.lead_id, func.count())
        .where(
            EngagementEvent.organization_id == organization_id,
            EngagementEvent.lead_id.in_(lead_ids),
            EngagementEvent.type == EngagementType.meeting_attended,
        )
        .group_by(EngagementEvent.lead_id)
    )
    return {lead_id: count for lead_id, count in rows if lead_id is not None}


async def rescore_leads(
    session: AsyncSession, leads: Sequence[Lead], *, policy: OrganizationPolicy, now: datetime
) -> None:
    """Writes score, score_breakdown and scored_at of `leads` (one organization's, loaded and locked
    by the caller) as derived values: their `version` and `updated_at` stay (docs/scoring.md)."""
    if not leads:
        return
    scores = await _intent_scores(session, leads[0].organization_id, leads, policy, now)
    scored = {lead_id: score_columns(score, now) for lead_id, score in scores.items()}
    await write_derived(session, Lead, scored, leads)


async def _intent_scores(
    session: AsyncSession,
    organization_id: uuid.UUID,
    leads: Sequence[Any],
    policy: OrganizationPolicy,
    now: datetime,
) -> dict[uuid.UUID, IntentScore]:
    """Each lead's score now, its inputs read with two statements for all of them. A lead is
    anything with the Lead columns id, temperature, temperature_at, budget and source."""
    lead_ids = [lead.id for lead in leads]
    intent = policy.lead_intent
    worked = await _worked(
        session, organization_id, lead_ids, now - timedelta(days=intent.contact_window_days)
    )
    attended = await _meetings_attended(session, organization_id, lead_ids)
    reading = TemperatureReading(now, policy.temperature.half_life)
    scores: dict[uuid.UUID, IntentScore] = {}
    for lead in leads:
        learnt = worked.learnt.get(lead.id, set())
        inputs = IntentInputs(
            activities_in_window=worked.recent[lead.id],
            temperature=reading.of(lead.temperature, lead.temperature_at),
            # A meeting the rep logged may be the one a calendar integration reported too.
            meetings_attended=max(worked.meetings[lead.id], attended.get(lead.id, 0)),
            budget_known=lead.budget is not None or InfoPoint.budget in learnt,
            timeframe_known=InfoPoint.timeline in learnt,
            source=LeadSource(lead.source).value,
        )
        scores[lead.id] = score_lead(inputs, intent)
    return scores


RESCORE_BATCH = 5000


@dataclass(frozen=True)
class LeadRescore:
    scored: int
    written: int  # of which the score or its breakdown changed
    last_id: uuid.UUID | None  # where the next batch starts after


async def organizations_due_for_lead_rescore(session: AsyncSession, now: datetime) -> list[uuid.UUID]:
    """Organizations whose open leads were not re-scored on their current local day yet."""
    rows = await session.execute(
        select(Organization.id, Organization.timezone, Organization.leads_rescored_on)
    )
    return [
        organization_id
        for organization_id, timezone, rescored_on in rows
        if rescored_on is None or rescored_on < now.astimezone(ZoneInfo(timezone)).date()
    ]


async def rescore_open_leads(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    now: datetime,
    after: uuid.UUID | None,
    batch: int = RESCORE_BATCH,
) -> LeadRescore:
    """Re-scores the next `batch` open leads (by id, after `after`): time alone moves a score, as
    the temperature cools and activities leave the contact-frequency window. Only a score or
    breakdown that changed is written, and only if the lead's `scored_at` is still the one read:
    a lead an activity or an event re-scored meanwhile keeps that fresher score. Nothing is locked."""
    statement = (
        select(
            Lead.id,
            Lead.temperature,
            Lead.temperature_at,
            Lead.budget,
            Lead.source,
            Lead.score,
            Lead.score_breakdown,
            Lead.scored_at,
        )
        .where(
            Lead.organization_id == organization_id,
            Lead.status.in_([status.value for status in OPEN_STATUSES]),
        )
        .order_by(Lead.id)
        .limit(batch)
    )
    if after is not None:
        statement = statement.where(Lead.id > after)
    leads = (await session.execute(statement)).all()
    if not leads:
        return LeadRescore(0, 0, None)
    policy = await rules_for(session, organization_id)
    scores = await _intent_scores(session, organization_id, leads, policy, now)
    changed = {}
    for lead in leads:
        columns = score_columns(scores[lead.id], now)
        if (columns["score"], columns["score_breakdown"]) != (lead.score, lead.score_breakdown):
            changed[lead.id] = {**columns, "expected": lead.scored_at}
    await write_derived(session, Lead, changed, guard="scored_at")
    return LeadRescore(len(leads), len(changed), leads[-1].id)


async def mark_leads_rescored(session: AsyncSession, organization_id: uuid.UUID, now: datetime) -> None:
    """The organization's open leads went through the re-score on its current local day."""
    timezone = await session.scalar(select(Organization.timezone).where(Organization.id == organization_id))
    day = now.astimezone(ZoneInfo(timezone or "UTC")).date()
    await write_derived(session, Organization, {organization_id: {"leads_rescored_on": day}})


async def write_derived(
    session: AsyncSession,
    model: Any,
    values: dict[uuid.UUID, dict[str, Any]],
    entities: Sequence[Any] = (),
    *,
    guard: str | None = None,
) -> None:
    """Derived values (scores, temperatures) written to their rows without moving `version` or
    `updated_at`: nobody edits them, so writing them invalidates no client's If-Match or ETag. The
    `entities` this session holds show the new values as loaded ones, not to be written again.
    With `guard`, a row is written only if that column still holds its `expected` value."""
    if not values:
        return
    table = model.__table__
    names = [name for name in next(iter(values.values())) if name != "expected"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({**{name: bindparam(f"new_{name}") for name in names}, "updated_at": table.c.updated_at})
    )
    if guard is not None:
        column = table.c[guard]
        statement = statement.where(column.is_not_distinct_from(bindparam("new_expected", type_=column.type)))
    await session.execute(
        statement,
        [{"row_id": row_id, **{f"new_{k}": v for k, v in row.items()}} for row_id, row in values.items()],
    )
    for entity in entities:
        for name, value in values.get(entity.id, {}).items():
            set_committed_value(entity, name, value)
