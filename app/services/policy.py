"""Loads the acting organization's business rules."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import Organization
from app.domain.policy import OrganizationPolicy, policy_from_settings
from app.domain.principal import Principal
from app.services.business_calendars import default_calendar


async def policy_for(session: AsyncSession, actor: Principal) -> OrganizationPolicy:
    """The settings' rules, with the default business calendar (when there is one) for SLA timers."""
    organization = await session.get_one(Organization, actor.organization_id)
    policy = policy_from_settings(organization.settings, organization.timezone)
    calendar = await default_calendar(session, actor.organization_id)
    return policy if calendar is None else replace(policy, business_calendar=calendar)
