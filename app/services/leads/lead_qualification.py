"""Qualifying a lead against the organization's criteria, and sales' feedback on a lead."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.leads.lead_qualification import FeedbackReason
from app.domain.leads.leads import LeadStatus, ensure_open
from app.domain.models import Activity, Lead
from app.domain.platform.errors import InvalidInput
from app.services.leads.leads import get_lead
from app.services.organization.policy import policy_for
from app.services.platform import audit


async def _known_info_points(session: AsyncSession, lead: Lead) -> set[str]:
    recorded = await session.scalars(
        select(Activity.info_points).where(
            Activity.organization_id == lead.organization_id, Activity.lead_id == lead.id
        )
    )
    return {point for points in recorded for point, value in points.items() if value not in (None, "")}


def _field_values(lead: Lead) -> dict[str, object]:
    values: dict[str, object] = {
        name: getattr(lead, name)
        for name in ("company", "email", "phone", "region", "product_line", "industry", "budget")
    }
    values.update({f"custom_fields.{key}": value for key, value in lead.custom_fields.items()})
    return values


async def qualify_lead(session: AsyncSession, *, actor: Principal, lead_id: uuid.UUID, now: datetime) -> Lead:
    """Qualified when every criterion holds; otherwise 422 naming each one that does not. A lead
    already qualified stays as it was (a retry changes nothing)."""
    lead = await get_lead(session, actor=actor, lead_id=lead_id, for_update=True)
    ensure_open(lead.status, action="qualified")
    if lead.status is LeadStatus.qualified:
        return lead
    criteria = (await policy_for(session, actor)).lead_qualification
    missing = criteria.missing(_field_values(lead), await _known_info_points(session, lead))
    if missing:
        raise InvalidInput(
            "The lead does not meet the organization's qualification criteria yet.",
            code="lead.qualification_incomplete",
            errors=missing,
        )
    before = audit.snapshot(lead, ("status",))
    lead.status = LeadStatus.qualified
    lead.qualified_at = now
    lead.qualified_by_id = actor.user_id
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="lead.qualified",
        entity_type="lead",
        entity_id=lead.id,
        before=before,
        after={"status": lead.status, "criteria": criteria.names()},
    )
    return lead


@dataclass(frozen=True)
class Feedback:
    quality: int
    reason_codes: tuple[FeedbackReason, ...]
    comment: str | None = None


async def give_feedback(
    session: AsyncSession, *, actor: Principal, lead_id: uuid.UUID, feedback: Feedback, now: datetime
) -> Lead:
    """Sales rates the lead marketing sent: one current rating per lead, the last one given."""
    lead = await get_lead(session, actor=actor, lead_id=lead_id, for_update=True)
    before = audit.snapshot(lead, ("feedback_quality", "feedback_reasons"))
    lead.feedback_quality = feedback.quality
    lead.feedback_reasons = sorted({reason.value for reason in feedback.reason_codes})
    lead.feedback_comment = feedback.comment
    lead.feedback_by_id = actor.user_id
    lead.feedback_at = now
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="lead.feedback_given",
        entity_type="lead",
        entity_id=lead.id,
        before=before,
        after={"feedback_quality": lead.feedback_quality, "feedback_reasons": lead.feedback_reasons},
    )
    return lead
