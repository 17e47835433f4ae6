"""Handover: everything a leaving rep owns moves to a colleague in one transaction, audited per record."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.leads.leads import OPEN_STATUSES
from app.domain.models import (
    Customer,
    Opportunity,
    OpportunityStatus,
    SlaTimer,
    Task,
    TaskStatus,
    User,
)
from app.domain.notifications.events import UserHandedOver
from app.domain.platform.errors import FieldError, InvalidInput
from app.domain.sla.sla import ACTIVE_STATES
from app.services.assignment import lead_ownership
from app.services.identity.users import guard_removal, lock_active_admins
from app.services.platform import audit, change_log, outbox
from app.services.platform.common import get_visible


@dataclass(frozen=True)
class HandoverResult:
    from_user_id: uuid.UUID
    to_user_id: uuid.UUID
    counts: dict[str, int]
    deactivated: bool


@dataclass(frozen=True)
class _Reassign:
    """Moves one kind of record the leaving user holds: those still work (`only`) change owner."""

    model: Any
    entity_type: str
    only: Any = None
    owner_field: str = "owner_id"

    async def __call__(
        self, session: AsyncSession, actor: Principal, leaving: User, receiver: User, now: datetime
    ) -> int:
        """Locks the rows, moves them with one UPDATE, and writes one audit row per record."""
        model, owner_field = self.model, self.owner_field
        statement = select(model.id).where(
            model.organization_id == actor.organization_id, getattr(model, owner_field) == leaving.id
        )
        if self.only is not None:
            statement = statement.where(self.only)
        ids = list((await session.scalars(statement.with_for_update())).all())
        if not ids:
            return 0
        await session.execute(
            update(model)
            .where(model.organization_id == actor.organization_id, model.id.in_(ids))
            .values({owner_field: receiver.id, "version": model.version + 1, "updated_at": now})
            .execution_options(synchronize_session=False)
        )
        await change_log.record_changes(session, model, actor.organization_id, ids)
        await audit.record_audits(
            session,
            actor=actor,
            action=f"{self.entity_type}.owner_changed",
            entity_type=self.entity_type,
            changes=[
                (
                    entity_id,
                    {owner_field: str(leaving.id)},
                    {owner_field: str(receiver.id), "reason": "handover"},
                )
                for entity_id in ids
            ],
        )
        return len(ids)


async def _transfer_open_leads(
    session: AsyncSession, actor: Principal, leaving: User, receiver: User, now: datetime
) -> int:
    # Closed leads keep their owner: they are history of who worked them, not open work. Leads
    # change hands through their ownership module, like every other change of a lead's owner.
    return await lead_ownership.transfer_many(
        session,
        actor=actor,
        from_user_id=leaving.id,
        to_user_id=receiver.id,
        statuses=sorted(OPEN_STATUSES),
        now=now,
        reason=f"handover from {leaving.display_name}",
    )


_Move = Callable[[AsyncSession, Principal, User, User, datetime], Awaitable[int]]

# What a handover moves, in this order, under the name its count is reported by. Won and lost deals
# stay with who closed them, for output-per-rep history.
_MOVES: dict[str, _Move] = {
    "leads": _transfer_open_leads,
    # A merged customer is an alias of its survivor, which moves (or not) on its own owner's account.
    "customers": _Reassign(Customer, "customer", only=Customer.merged_into_id.is_(None)),
    "opportunities": _Reassign(Opportunity, "opportunity", only=Opportunity.status == OpportunityStatus.open),
    "tasks": _Reassign(Task, "task", only=Task.status == TaskStatus.open, owner_field="assignee_id"),
    "timers": _Reassign(SlaTimer, "sla_timer", only=SlaTimer.state.in_(ACTIVE_STATES)),
}


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
    if deactivate:
        await lock_active_admins(session, actor.organization_id)
    leaving = await get_visible(session, User, from_user_id, actor=actor, for_update=True)
    if deactivate and leaving.is_active:
        await guard_removal(session, actor=actor, user=leaving)
    receiver = await _active_receiver(session, actor, to_user_id)
    counts = {kind: await move(session, actor, leaving, receiver, now) for kind, move in _MOVES.items()}
    if deactivate and leaving.is_active:
        await _deactivate(session, actor, leaving)
    _announce(session, actor, leaving, receiver, counts)
    return HandoverResult(leaving.id, receiver.id, counts, deactivate)


async def _active_receiver(session: AsyncSession, actor: Principal, to_user_id: uuid.UUID) -> User:
    receiver = await session.scalar(
        select(User).where(User.id == to_user_id, User.organization_id == actor.organization_id)
    )
    if receiver is None or not receiver.is_active:
        raise InvalidInput(
            "The receiving user must be an active user of this organization.",
            code="handover.receiver_invalid",
            errors=[FieldError("to_user_id", "user.invalid", "unknown or inactive")],
        )
    return receiver


async def _deactivate(session: AsyncSession, actor: Principal, leaving: User) -> None:
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


def _announce(
    session: AsyncSession, actor: Principal, leaving: User, receiver: User, counts: dict[str, int]
) -> None:
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
