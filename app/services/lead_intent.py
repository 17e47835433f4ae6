"""Lead intent score kept on the lead: its inputs read for a set of leads at once, the score and its
breakdown written in the transaction that changed one of them (an activity, an engagement, an edit)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.activities import ActivityType, InfoPoint
from app.domain.engagement import EngagementType, TemperatureReading
from app.domain.lead_intent import IntentInputs, IntentScore, score_lead
from app.domain.models import Activity, EngagementEvent, Lead
from app.domain.policy import OrganizationPolicy


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
    """Sets score, score_breakdown and scored_at on `leads` (one organization's, loaded and locked by
    the caller, who flushes)."""
    if not leads:
        return
    organization_id, lead_ids = leads[0].organization_id, [lead.id for lead in leads]
    intent = policy.lead_intent
    worked = await _worked(
        session, organization_id, lead_ids, now - timedelta(days=intent.contact_window_days)
    )
    attended = await _meetings_attended(session, organization_id, lead_ids)
    reading = TemperatureReading(now, policy.temperature.half_life)
    for lead in leads:
        learnt = worked.learnt.get(lead.id, set())
        inputs = IntentInputs(
            activities_in_window=worked.recent[lead.id],
            temperature=reading.of(lead.temperature, lead.temperature_at),
            # A meeting the rep logged may be the one a calendar integration reported too.
            meetings_attended=max(worked.meetings[lead.id], attended.get(lead.id, 0)),
            budget_known=lead.budget is not None or InfoPoint.budget in learnt,
            timeframe_known=InfoPoint.timeline in learnt,
            source=lead.source.value,
        )
        for name, value in score_columns(score_lead(inputs, intent), now).items():
            setattr(lead, name, value)
