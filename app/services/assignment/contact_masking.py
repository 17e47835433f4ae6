"""Which pooled leads' contacts a caller is shown masked (domain/contact_masking, settings
`lead_pool.mask_contacts`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.assignment.contact_masking import (
    NO_MASKING,
    PoolMasking,
    masked_contacts,
    masked_text,
    pool_masking,
    sees_pool_contacts,
)
from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadStatus
from app.domain.models import Activity, Lead
from app.services.organization.policy import rules_for


async def masking_for(session: AsyncSession, actor: Principal) -> PoolMasking:
    if sees_pool_contacts(actor):
        return NO_MASKING
    policy = await rules_for(session, actor.organization_id)
    return pool_masking(actor, mask_contacts=policy.lead_pool.mask_contacts)


def shown_contacts(masking: PoolMasking, lead: Lead) -> dict[str, str | None]:
    """The lead's fields to replace in an answer: its contacts and its notes masked, or none."""
    if not masking.hides(lead.status, lead.created_by_id):
        return {}
    notes = masked_text(lead.notes, lead.wechat) if lead.notes else lead.notes
    return {**masked_contacts(lead.phone, lead.email, lead.wechat), "notes": notes}


async def shown_activity_texts(
    session: AsyncSession, masking: PoolMasking, records: Sequence[Activity]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Per activity on a lead masked for this viewer, its notes and info points to show instead:
    a previous owner's "call back on 139 1234 2222" would otherwise give the pooled lead's number
    away. The viewer's own activities show as written. One query per page."""
    on_leads = [a for a in records if a.lead_id is not None and a.owner_id != masking.viewer_id]
    if not masking.is_on or not on_leads:
        return {}
    found = await session.execute(
        select(Lead.id, Lead.status, Lead.created_by_id, Lead.wechat).where(
            Lead.id.in_({a.lead_id for a in on_leads})
        )
    )
    masked_wechat = {
        lead_id: wechat
        for lead_id, status, created_by_id, wechat in found
        if masking.hides(status, created_by_id)
    }
    return {
        a.id: {
            "notes": masked_text(a.notes, masked_wechat[a.lead_id]) if a.notes else a.notes,
            "info_points": {
                point: masked_text(text, masked_wechat[a.lead_id]) for point, text in a.info_points.items()
            },
        }
        for a in on_leads
        if a.lead_id in masked_wechat
    }


def unmasked(masking: PoolMasking, condition: ColumnElement[bool]) -> Any:
    """A match on part of a phone number, kept off the leads whose phone is masked: else typing
    digit after digit would read a masked number back."""
    if not masking.is_on:
        return condition
    return condition & or_(Lead.status != LeadStatus.pooled, Lead.created_by_id == masking.viewer_id)
