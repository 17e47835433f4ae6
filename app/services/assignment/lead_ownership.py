"""The one place a lead changes hands: rules, managers, claims, releases and recycling all come here.

Each change writes the lead, a `lead_assignment` history row, an audit event and an outbox event
in the caller's transaction; the caller holds the lead's row lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadStatus
from app.domain.models import AssignmentKind, Lead, LeadAssignment, User
from app.domain.notifications.events import LeadAssigned, LeadReleased
from app.services.assignment.ownership import supervisors_of
from app.services.platform import audit, change_log, outbox
from app.services.sla import sla

OWNERSHIP_FIELDS = ("owner_id", "status", "assignment_rule_id", "assignment_strategy", "assignment_reason")


async def give_to(
    session: AsyncSession,
    lead: Lead,
    *,
    owner_id: uuid.UUID,
    kind: AssignmentKind,
    actor: Principal,
    now: datetime,
    reason: str,
    rule_id: uuid.UUID | None = None,
    strategy: str | None = None,
) -> None:
    """Makes `owner_id` the lead's owner and tells them."""
    before = audit.snapshot(lead, OWNERSHIP_FIELDS)
    previous = lead.owner_id
    lead.owner_id = owner_id
    lead.assigned_at = now
    lead.pooled_at = None
    if lead.status in (LeadStatus.new, LeadStatus.pooled):
        lead.status = LeadStatus.assigned
    lead.assignment_rule_id = rule_id
    lead.assignment_strategy = strategy
    lead.assignment_reason = reason[:500]
    await _record(
        session, lead, kind=kind, actor=actor, now=now, previous=previous, before=before, reason=reason
    )
    await sla.lead_changed_hands(session, lead, now=now)
    owner = await session.get(User, owner_id)  # named in group chats, which cannot say "you"
    outbox.record(
        session,
        organization_id=lead.organization_id,
        event=LeadAssigned(
            lead_id=lead.id,
            lead_name=lead.name,
            company=lead.company or "",
            owner_id=owner_id,
            owner_name=owner.display_name if owner else "",
            previous_owner_id=previous,
            kind=kind,
            rule_id=rule_id,
            strategy=strategy,
            reason=reason,
            notify_user_ids=(owner_id,),
        ),
    )


async def put_in_pool(
    session: AsyncSession,
    lead: Lead,
    *,
    kind: AssignmentKind,
    actor: Principal,
    now: datetime,
    reason: str,
    notify_supervisors: bool = False,
) -> None:
    """Takes the lead from its owner (if any) into the public pool."""
    before = audit.snapshot(lead, OWNERSHIP_FIELDS)
    previous = lead.owner_id
    if previous is not None:
        lead.previous_owner_id = previous
    lead.owner_id = None
    lead.status = LeadStatus.pooled
    lead.pooled_at = now
    lead.release_reason = reason[:500] if kind is not AssignmentKind.fallback else None
    lead.assignment_rule_id = None
    lead.assignment_strategy = None
    lead.assignment_reason = reason[:500] if kind is AssignmentKind.fallback else None
    await sla.lead_changed_hands(session, lead, now=now)
    await _record(
        session, lead, kind=kind, actor=actor, now=now, previous=previous, before=before, reason=reason
    )
    if previous is None:
        return
    supervisors = await supervisors_of(session, lead.organization_id, previous) if notify_supervisors else []
    outbox.record(
        session,
        organization_id=lead.organization_id,
        event=LeadReleased(
            lead_id=lead.id,
            lead_name=lead.name,
            company=lead.company or "",
            previous_owner_id=previous,
            kind=kind,
            reason=reason,
            notify_user_ids=tuple(dict.fromkeys((previous, *supervisors))),
        ),
    )


async def _record(
    session: AsyncSession,
    lead: Lead,
    *,
    kind: AssignmentKind,
    actor: Principal,
    now: datetime,
    previous: uuid.UUID | None,
    before: dict[str, Any],
    reason: str,
) -> None:
    session.add(
        LeadAssignment(
            organization_id=lead.organization_id,
            lead_id=lead.id,
            occurred_at=now,
            kind=kind,
            user_id=lead.owner_id,
            previous_user_id=previous,
            rule_id=lead.assignment_rule_id,
            strategy=lead.assignment_strategy,
            reason=reason[:500],
            actor_id=actor.actor_id,
        )
    )
    old, new = audit.changed_fields(before, audit.snapshot(lead, OWNERSHIP_FIELDS))
    await audit.record_audit(
        session,
        actor=actor,
        action="lead.assigned" if lead.owner_id else "lead.released",
        entity_type="lead",
        entity_id=lead.id,
        before=old,
        after={**new, "kind": kind.value},
    )


@dataclass(frozen=True)
class _Handover:
    """One handover of leads, as each of its writes records it."""

    actor: Principal
    from_user_id: uuid.UUID
    to_user_id: uuid.UUID
    now: datetime
    reason: str


async def transfer_many(
    session: AsyncSession,
    *,
    actor: Principal,
    from_user_id: uuid.UUID,
    to_user_id: uuid.UUID,
    statuses: Sequence[LeadStatus],
    now: datetime,
    reason: str,
) -> int:
    """Every lead of one owner in `statuses` to another owner, set-based (a handover moves hundreds
    at once): the leads, one history row, audit row and `lead.assigned` event each. Their timers
    are the caller's to move (a handover moves every live timer of the leaving user). The events
    notify nobody: the receiver gets one handover notice, not one per lead."""
    locked = (
        await session.execute(
            select(Lead.id, Lead.name, Lead.company)
            .where(
                Lead.organization_id == actor.organization_id,
                Lead.owner_id == from_user_id,
                Lead.status.in_(statuses),
            )
            .with_for_update()
        )
    ).all()
    if not locked:
        return 0
    handover = _Handover(actor, from_user_id, to_user_id, now, reason[:500])
    moved = [row.id for row in locked]
    await _set_owner(session, handover, moved)
    await _record_handovers(session, handover, moved)
    await _announce_handovers(session, handover, locked)
    return len(moved)


async def _set_owner(session: AsyncSession, handover: _Handover, lead_ids: list[uuid.UUID]) -> None:
    for chunk in _chunks(lead_ids):
        await session.execute(
            update(Lead)
            .where(Lead.organization_id == handover.actor.organization_id, Lead.id.in_(chunk))
            .values(
                owner_id=handover.to_user_id,
                assigned_at=handover.now,
                assignment_rule_id=None,
                assignment_strategy=None,
                assignment_reason=handover.reason,
                version=Lead.version + 1,
                updated_at=handover.now,
            )
            .execution_options(synchronize_session=False)
        )
    await change_log.record_changes(session, Lead, handover.actor.organization_id, lead_ids)


async def _record_handovers(session: AsyncSession, handover: _Handover, lead_ids: list[uuid.UUID]) -> None:
    """One assignment history row and one audit row per lead."""
    actor = handover.actor
    await session.execute(
        insert(LeadAssignment),
        [
            {
                "id": uuid.uuid4(),
                "organization_id": actor.organization_id,
                "lead_id": lead_id,
                "occurred_at": handover.now,
                "kind": AssignmentKind.handover,
                "user_id": handover.to_user_id,
                "previous_user_id": handover.from_user_id,
                "reason": handover.reason,
                "actor_id": actor.actor_id,
            }
            for lead_id in lead_ids
        ],
    )
    await audit.record_audits(
        session,
        actor=actor,
        action="lead.assigned",
        entity_type="lead",
        changes=[
            (
                lead_id,
                {"owner_id": handover.from_user_id},
                {"owner_id": handover.to_user_id, "kind": AssignmentKind.handover},
            )
            for lead_id in lead_ids
        ],
    )


async def _announce_handovers(
    session: AsyncSession, handover: _Handover, leads: Sequence[Row[uuid.UUID, str, str | None]]
) -> None:
    receiver = await session.get(User, handover.to_user_id)
    outbox.record_many(
        session,
        organization_id=handover.actor.organization_id,
        events=[
            LeadAssigned(
                lead_id=lead.id,
                lead_name=lead.name,
                company=lead.company or "",
                owner_id=handover.to_user_id,
                owner_name=receiver.display_name if receiver else "",
                previous_owner_id=handover.from_user_id,
                kind=AssignmentKind.handover,
                rule_id=None,
                strategy=None,
                reason=handover.reason,
            )
            for lead in leads
        ],
    )


def _chunks(ids: list[uuid.UUID], size: int = 1000) -> list[list[uuid.UUID]]:
    # Bound the IN list: both drivers cap the parameters of one statement near 32k.
    return [ids[start : start + size] for start in range(0, len(ids), size)]
