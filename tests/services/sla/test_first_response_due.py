"""SLA business time at the service level: a first-response timer started when a lead changes hands
falls due after the policy's minutes on the organization's default calendar, holidays skipped."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import SlaTimer
from app.domain.sla.sla import SlaKind
from app.services.leads import lead_pool
from app.services.organization import business_calendars
from app.services.sla import sla
from tests.services.scenario import Organization, add_lead

NINE_TO_SIX = {str(day): [["09:00", "18:00"]] for day in range(1, 6)}
EVE_OF_NATIONAL_DAY = datetime(2026, 9, 30, 9, 50, tzinfo=UTC)  # Wednesday 17:50 in Shanghai


async def _first_response_due(session: AsyncSession, organization: Organization, now: datetime) -> datetime:
    """When the 30-minute first-response timer of a lead assigned at `now` falls due."""
    await sla.create_policy(
        session,
        actor=organization.system,
        name="线索30分钟首响",
        kind=SlaKind.first_response,
        target_minutes=30,
        rules={"steps": [{"after_minutes": 60, "notify": ["director"]}]},
    )
    lead = await add_lead(session, organization.system, now)
    await lead_pool.assign_manually(
        session,
        actor=organization.actor(organization.supervisor),
        lead_id=lead.id,
        user_id=organization.reps[0].id,
        reason="区域负责人",
        now=now,
    )
    (timer,) = (await session.scalars(select(SlaTimer).where(SlaTimer.subject_id == lead.id))).all()
    assert (timer.kind, timer.owner_id) == (SlaKind.first_response, organization.reps[0].id)
    return timer.due_at.astimezone(UTC)


async def test_the_default_calendar_with_chinese_public_holidays_skips_golden_week(
    session: AsyncSession, organization: Organization
) -> None:
    await business_calendars.create_calendar(
        session,
        actor=organization.system,
        fields={
            "name": "上海办公室",
            "timezone": "Asia/Shanghai",
            "week": NINE_TO_SIX,
            "public_holidays": "CN",
            "is_default": True,
        },
    )

    due = await _first_response_due(session, organization, EVE_OF_NATIONAL_DAY)

    # 10 minutes on 30 September; 1-7 October are public holidays; 20 more on Thursday 8th.
    assert due == datetime(2026, 10, 8, 1, 20, tzinfo=UTC)


async def test_a_calendar_that_is_not_the_default_leaves_the_settings_to_decide(
    session: AsyncSession, organization: Organization
) -> None:
    await business_calendars.create_calendar(
        session,
        actor=organization.system,
        fields={
            "name": "上海办公室",
            "timezone": "Asia/Shanghai",
            "week": NINE_TO_SIX,
            "public_holidays": "CN",
        },
    )

    due = await _first_response_due(session, organization, EVE_OF_NATIONAL_DAY)

    # The settings' plain 09:00-18:00 weekdays: 10 minutes today, 20 on Thursday 1 October.
    assert due == datetime(2026, 10, 1, 1, 20, tzinfo=UTC)
