"""The lead pool's release rule at the service level: a lead its owner does not follow up within the
organization's business hours (or leaves idle for N days) goes back to the pool; holidays on the
calendar do not count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.activities.activities import ActivityType, CallOutcome
from app.domain.leads.leads import LeadStatus
from app.domain.models import Lead
from app.services.activities import activities
from app.services.leads import lead_pool
from app.services.organizations import update_organization
from tests.conftest import Clock
from tests.services.scenario import Organization, add_lead


async def _set_lead_pool(session: AsyncSession, organization: Organization, **settings: object) -> None:
    await update_organization(
        session, actor=organization.system, changes={"settings": settings}, expected_version=None
    )


async def _assigned_lead(session: AsyncSession, organization: Organization, now: datetime) -> Lead:
    """A lead the supervisor gives to the first rep at `now`."""
    lead = await add_lead(session, organization.system, now)
    return await lead_pool.assign_manually(
        session,
        actor=organization.actor(organization.supervisor),
        lead_id=lead.id,
        user_id=organization.reps[0].id,
        reason="区域负责人",
        now=now,
    )


async def _recycle(session: AsyncSession, organization: Organization, now: datetime) -> int:
    return await lead_pool.recycle_due_leads(session, organization_id=organization.id, now=now)


async def test_a_lead_nobody_follows_up_within_the_business_hours_goes_back_to_the_pool(
    session: AsyncSession, organization: Organization, clock: Clock
) -> None:
    await _set_lead_pool(
        session, organization, lead_pool={"first_follow_up_business_hours": 4, "idle_days": 10}
    )
    rep = organization.reps[0]
    idle = await _assigned_lead(session, organization, clock.now)  # Monday 10:00 in Shanghai
    worked = await _assigned_lead(session, organization, clock.now)
    call = activities.NewActivity(
        type=ActivityType.call, occurred_at=clock.now, lead_id=worked.id, call_outcome=CallOutcome.connected
    )
    await activities.record_activity(session, actor=organization.actor(rep), data=call, now=clock.now)

    assert await _recycle(session, organization, clock.now + timedelta(hours=3, minutes=59)) == 0
    assert await _recycle(session, organization, clock.now + timedelta(hours=4)) == 1  # Monday 14:00
    assert await _recycle(session, organization, clock.now + timedelta(hours=4)) == 0  # once only

    await session.refresh(idle)
    assert (idle.status, idle.owner_id, idle.previous_owner_id) == (LeadStatus.pooled, None, rep.id)
    assert "4 business hours" in (idle.release_reason or "")
    await session.refresh(worked)
    assert worked.status is not LeadStatus.pooled
    # Followed up once, then left alone: released after the idle days.
    assert await _recycle(session, organization, clock.now + timedelta(days=10)) == 1
    await session.refresh(worked)
    assert worked.status is LeadStatus.pooled
    assert "10 days" in (worked.release_reason or "")


async def test_recycling_counts_business_hours_on_the_calendar_so_golden_week_does_not_count(
    session: AsyncSession, organization: Organization
) -> None:
    await _set_lead_pool(
        session,
        organization,
        public_holidays="CN",
        lead_pool={"first_follow_up_business_hours": 4, "idle_days": 30},
    )
    assigned_at = datetime(2026, 9, 30, 8, 0, tzinfo=UTC)  # Wednesday 16:00 in Shanghai, before 国庆
    lead = await _assigned_lead(session, organization, assigned_at)

    # Two business hours on Wednesday, then the holiday (1-7 October) counts nothing.
    assert await _recycle(session, organization, datetime(2026, 10, 7, 15, 0, tzinfo=UTC)) == 0  # 23:00
    assert await _recycle(session, organization, datetime(2026, 10, 8, 2, 59, tzinfo=UTC)) == 0  # Thu 10:59
    assert await _recycle(session, organization, datetime(2026, 10, 8, 3, 0, tzinfo=UTC)) == 1  # 11:00
    await session.refresh(lead)
    assert lead.status is LeadStatus.pooled
