"""Handover: everything a leaving rep owns moves to a colleague in one transaction, audited per record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import FieldError, InvalidInput
from app.domain.events import UserHandedOver
from app.domain.leads import OPEN_STATUSES
from app.domain.models import (
    Customer,
    Opportunity,
    OpportunityStatus,
    SlaTimer,
    Task,
    TaskStatus,
    User,
)
from app.domain.principal import Principal
from app.domain.sla import ACTIVE_STATES
from app.services import audit, lead_ownership, outbox
from app.services.common import get_visible
from app.services.users import guard_removal


@dataclass(frozen=True)
class HandoverResult:
    from_user_id: uuid.UUID
    to_user_id: uuid.UUID
    counts: dict[str, int]
    deactivated: bool


async def _move(
    session: AsyncSession,
    *,
    actor: Principal,
    model: Any,
    entity_type: str,
    from_user: uuid.UUID,
    to_user: uuid.UUID,
    extra: Any = None,
    owner_field: str = "owner_id",
    now: datetime,
) -> int:
    """Locks the rows, moves them with one UPDATE, and writes one audit row per record."""
    owner = getattr(model, owner_field)
    statement = select(model.id).where(model.organization_id == actor.organization_id, owner == from_user)
    if extra is not None:
        statement = statement.where(extra)
    ids = list((await session.scalars(statement.with_for_update())).all())
    if not ids:
        return 0
    await session.execute(
        update(model)
        .where(model.organization_id == actor.organization_id, model.id.in_(ids))
        .values({owner_field: to_user, "version": model.version + 1, "updated_at": now})
        .execution_options(synchronize_session=False)
    )
    await audit.record_audits(
        session,
        actor=actor,
        action=f"{entity_type}.owner_changed",
        entity_type=entity_type,
        changes=[
            (entity_id, {owner_field: str(from_user)}, {owner_field: str(to_user), "reason": "handover"})
            for entity_id in ids
        ],
    )
    return len(ids)


async def hand_over(
    session: AsyncSession,
    *,
    actor: Principal,
    from_user_id: uuid.UUID,
    to_user_id: uuid.UUID,
    deactivate: bool,
    now: datetime,
) -> HandoverResult:
    if from_user_id == to_user_id:
        raise InvalidInput(
            "Hand over to someone else.",
            code="handover.same_user",
            errors=[FieldError("to_user_id", "same_user", "must differ from the leaving user")],
        )
    leaving = await get_visible(session, User, from_user_id, actor=actor, for_update=True)
    if deactivate and leaving.is_active:
        await guard_removal(session, actor=actor, user=leaving)
    receiver = await session.scalar(
        select(User).where(User.id == to_user_id, User.organization_id == actor.organization_id)
    )
    if receiver is None or not receiver.is_active:
        raise InvalidInput(
            "The receiving user must be an active user of this organization.",
            code="handover.receiver_invalid",
            errors=[FieldError("to_user_id", "user.invalid", "unknown or inactive")],
        )
    counts = {
        # Closed leads keep their owner: they are history of who worked them, not open work. Leads
        # change hands through their ownership module, like every other change of a lead's owner.
        "leads": await lead_ownership.transfer_many(
            session,
            actor=actor,
            from_user_id=leaving.id,
            to_user_id=receiver.id,
            statuses=sorted(OPEN_STATUSES),
            now=now,
            reason=f"handover from {leaving.display_name}",
        ),
        "customers": await _move(
            session,
            actor=actor,
            model=Customer,
            entity_type="customer",
            from_user=leaving.id,
            to_user=receiver.id,
            now=now,
        ),
        # Won and lost deals stay with who closed them, for output-per-rep history.
        "opportunities": await _move(
            session,
            actor=actor,
            model=Opportunity,
            entity_type="opportunity",
            from_user=leaving.id,
            to_user=receiver.id,
            extra=Opportunity.status == OpportunityStatus.open,
            now=now,
        ),
        "tasks": await _move(
            session,
            actor=actor,
            model=Task,
            entity_type="task",
            from_user=leaving.id,
            to_user=receiver.id,
            extra=Task.status == TaskStatus.open,
            owner_field="assignee_id",
            now=now,
        ),
        "timers": await _move(
            session,
            actor=actor,
            model=SlaTimer,
            entity_type="sla_timer",
            from_user=leaving.id,
            to_user=receiver.id,
            extra=SlaTimer.state.in_(ACTIVE_STATES),
            now=now,
        ),
    }
    if deactivate and leaving.is_active:
        leaving.is_active = False
        leaving.is_available = False
        leaving.token_version += 1
        await session.flush()
        await audit.record_audit(
            session,
            actor=actor,
            action="user.deactivated",
            entity_type="user",
            entity_id=leaving.id,
            before={"is_active": True},
            after={"is_active": False, "reason": "handover"},
        )
    outbox.record(
        session,
        organization_id=actor.organization_id,
        event=UserHandedOver(
            from_user_id=leaving.id,
            to_user_id=receiver.id,
            from_name=leaving.display_name,
            to_name=receiver.display_name,
            lead_count=counts["leads"],
            customer_count=counts["customers"],
            opportunity_count=counts["opportunities"],
            task_count=counts["tasks"],
            notify_user_ids=(receiver.id,),
        ),
    )
    return HandoverResult(leaving.id, receiver.id, counts, deactivate)
