"""Which pooled leads' contacts a caller is shown masked (domain/contact_masking, settings
`lead_pool.mask_contacts`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.contact_masking import (
    NO_MASKING,
    PoolMasking,
    masked_contacts,
    pool_masking,
    sees_pool_contacts,
)
from app.domain.leads import LeadStatus
from app.domain.models import Lead
from app.domain.principal import Principal
from app.services.policy import rules_for


async def masking_for(session: AsyncSession, actor: Principal) -> PoolMasking:
    if sees_pool_contacts(actor):
        return NO_MASKING
    policy = await rules_for(session, actor.organization_id)
    return pool_masking(actor, mask_contacts=policy.lead_pool.mask_contacts)


def shown_contacts(masking: PoolMasking, lead: Lead) -> dict[str, str | None]:
    """The lead's contact fields to replace in an answer: masked ones, or none."""
    if not masking.hides(lead.status, lead.created_by_id):
        return {}
    return masked_contacts(lead.phone, lead.email, lead.wechat)


def unmasked(masking: PoolMasking, condition: ColumnElement[bool]) -> Any:
    """A match on part of a phone number, kept off the leads whose phone is masked: else typing
    digit after digit would read a masked number back."""
    if not masking.is_on:
        return condition
    return condition & or_(Lead.status != LeadStatus.pooled, Lead.created_by_id == masking.viewer_id)
