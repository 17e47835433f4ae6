"""Loads the acting organization's business rules."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import Organization
from app.domain.policy import OrganizationPolicy, policy_from_settings
from app.domain.principal import Principal


async def policy_for(session: AsyncSession, actor: Principal) -> OrganizationPolicy:
    organization = await session.get_one(Organization, actor.organization_id)
    return policy_from_settings(organization.settings, organization.timezone)
