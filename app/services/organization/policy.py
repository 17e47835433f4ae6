"""Loads the acting organization's business rules."""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import Organization
from app.domain.organization.policy import OrganizationPolicy, policy_from_settings
from app.services.organization.business_calendars import default_calendar

# Built once: a statement object caches its own cache key, so each call only binds the id.
_SETTINGS = select(Organization.settings, Organization.timezone).where(
    Organization.id == bindparam("organization_id")
)


async def rules_for(session: AsyncSession, organization_id: uuid.UUID) -> OrganizationPolicy:
    """The organization's rules from its settings, without the business calendar (one query less,
    for use cases that start no SLA timer and compute no due date)."""
    settings, timezone = (await session.execute(_SETTINGS, {"organization_id": organization_id})).one()
    return policy_from_settings(settings, timezone)


async def policy_for(session: AsyncSession, actor: Principal) -> OrganizationPolicy:
    """The settings' rules, with the default business calendar (when there is one) for SLA timers."""
    policy = await rules_for(session, actor.organization_id)
    calendar = await default_calendar(session, actor.organization_id)
    return policy if calendar is None else replace(policy, business_calendar=calendar)
