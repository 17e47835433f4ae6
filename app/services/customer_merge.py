"""Merging a duplicate customer into a survivor, and undoing it within 7 days.

Every record that belongs to the duplicate moves with one set-based UPDATE per kind, which returns
the ids it moved; the merge row keeps them, so an undo moves back exactly those and nothing added
to the survivor since.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.dedup import CustomerKeys
from app.domain.errors import Conflict, FieldError, InvalidInput, NotFound
from app.domain.events import CustomerMerged, CustomerMergeUndone
from app.domain.models import (
    Activity,
    Attachment,
    AttachmentParent,
    Contact,
    Customer,
    CustomerMerge,
    Lead,
    Opportunity,
    Quote,
    SlaTimer,
    Task,
    is_live,
)
from app.domain.principal import Principal
from app.domain.sla import TimerState
from app.services import audit, customer_dedup, outbox
from app.services.common import get_visible
from app.services.visibility import visible_to

UNDO_WINDOW = timedelta(days=7)
# Ids named by one statement when moving records back (SQLite binds at most 32,766 parameters).
_ID_CHUNK = 1000


@dataclass(frozen=True)
class _Follower:
    """A kind of record that belongs to a customer through one column."""

    kind: str
    model: Any
    column: Any
    condition: ColumnElement[bool] | None = None


FOLLOWERS = (
    _Follower("contacts", Contact, Contact.customer_id),
    _Follower("leads", Lead, Lead.customer_id),
    _Follower("opportunities", Opportunity, Opportunity.customer_id),
    _Follower("activities", Activity, Activity.customer_id),
    _Follower("quotes", Quote, Quote.customer_id),
    _Follower("tasks", Task, Task.customer_id),
    _Follower(
        "attachments", Attachment, Attachment.parent_id, Attachment.parent_type == AttachmentParent.customer
    ),
    _Follower("sla_timers", SlaTimer, SlaTimer.subject_id, SlaTimer.subject_type == "customer"),
)


def undo_deadline(merge: CustomerMerge) -> datetime:
    return merge.merged_at + UNDO_WINDOW


async def _move(
    session: AsyncSession,
    follower: _Follower,
    organization_id: uuid.UUID,
    *,
    from_id: uuid.UUID,
    to_id: uuid.UUID,
    now: datetime,
    only: Sequence[str] | None = None,
) -> list[uuid.UUID]:
    """Moves the follower's records (all, or `only` these ids) and returns the ids moved. Each moved
    record's version and updated_at change, so ETags and `updated_since` sync notice."""
    model = follower.model
    statement = update(model).where(model.organization_id == organization_id, follower.column == from_id)
    if follower.condition is not None:
        statement = statement.where(follower.condition)
    statement = (
        statement.values({follower.column: to_id, model.version: model.version + 1, model.updated_at: now})
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    if only is None:
        return list((await session.scalars(statement)).all())
    moved: list[uuid.UUID] = []
    for chunk in _chunks(only):
        moved.extend((await session.scalars(statement.where(model.id.in_(chunk)))).all())
    return moved


def _chunks(ids: Sequence[str]) -> list[list[uuid.UUID]]:
    return [[uuid.UUID(i) for i in ids[start : start + _ID_CHUNK]] for start in range(0, len(ids), _ID_CHUNK)]


async def _lock_live_pair(
    session: AsyncSession, actor: Principal, survivor_id: uuid.UUID, duplicate_id: uuid.UUID
) -> tuple[Customer, Customer]:
    """Both customers, visible to the actor and not merged, locked in id order (two merges of one
    pair in opposite directions wait for each other instead of deadlocking)."""
    locked = {}
    for customer_id in sorted({survivor_id, duplicate_id}):
        customer = await get_visible(
            session,
            Customer,
            customer_id,
            actor=actor,
            visible=visible_to(actor, Customer.owner_id),
            for_update=True,
        )
        if customer.merged_into_id is not None:
            raise Conflict(
                f"The customer {customer.code} was already merged into another customer.",
                code="customer.already_merged",
            )
        locked[customer_id] = customer
    return locked[survivor_id], locked[duplicate_id]


async def _stop_clashing_timers(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    survivor_id: uuid.UUID,
    duplicate_id: uuid.UUID,
    now: datetime,
) -> list[dict[str, Any]]:
    """The duplicate's live timers of a policy the survivor already runs are cancelled (one live
    timer per policy and record); the states they had are kept for an undo."""
    survivor_policies = select(SlaTimer.policy_id).where(
        SlaTimer.organization_id == organization_id,
        SlaTimer.subject_id == survivor_id,
        is_live(SlaTimer.state),
    )
    clashing = (
        await session.scalars(
            select(SlaTimer)
            .where(
                SlaTimer.organization_id == organization_id,
                SlaTimer.subject_id == duplicate_id,
                is_live(SlaTimer.state),
                SlaTimer.policy_id.in_(survivor_policies),
            )
            .with_for_update()
        )
    ).all()
    stopped = [
        {
            "id": str(timer.id),
            "state": timer.state.value,
            "next_fire_at": timer.next_fire_at.isoformat() if timer.next_fire_at else None,
        }
        for timer in clashing
    ]
    for timer in clashing:
        timer.state, timer.stopped_at, timer.next_fire_at = TimerState.cancelled, now, None
    await session.flush()
    return stopped


async def merge_customers(
    session: AsyncSession, *, actor: Principal, survivor_id: uuid.UUID, duplicate_id: uuid.UUID, now: datetime
) -> CustomerMerge:
    """Moves the duplicate's contacts, leads, opportunities, activities, quotes, tasks, attachments
    and SLA timers to the survivor; the duplicate is marked merged and its id and code resolve to
    the survivor from then on."""
    if survivor_id == duplicate_id:
        raise InvalidInput(
            "A customer cannot be merged into itself.",
            code="customer.merge_into_itself",
            errors=[FieldError("duplicate_id", "same", "name another customer")],
        )
    survivor, duplicate = await _lock_live_pair(session, actor, survivor_id, duplicate_id)
    stopped = await _stop_clashing_timers(
        session, actor.organization_id, survivor_id=survivor.id, duplicate_id=duplicate.id, now=now
    )
    moved = {
        follower.kind: [
            str(record_id)
            for record_id in await _move(
                session, follower, actor.organization_id, from_id=duplicate.id, to_id=survivor.id, now=now
            )
        ]
        for follower in FOLLOWERS
    }
    merge = CustomerMerge(
        organization_id=actor.organization_id,
        survivor_id=survivor.id,
        duplicate_id=duplicate.id,
        merged_by_id=actor.user_id,
        merged_at=now,
        moved=moved,
        stopped_timers=stopped,
        previous_last_follow_up_at=survivor.last_follow_up_at,
    )
    session.add(merge)
    follow_ups = [at for at in (survivor.last_follow_up_at, duplicate.last_follow_up_at) if at is not None]
    survivor.last_follow_up_at = max(follow_ups, default=None)
    duplicate.merged_into_id, duplicate.merged_at = survivor.id, now
    await session.flush()
    await _announce(session, actor, merge, survivor, duplicate, undone=False)
    return merge


async def undo_merge(
    session: AsyncSession, *, actor: Principal, survivor_id: uuid.UUID, duplicate_id: uuid.UUID, now: datetime
) -> CustomerMerge:
    """Moves back exactly what the merge moved and makes the duplicate a customer again; refused
    (409) after 7 days, when the survivor was merged in turn, when moved records are no longer on
    the survivor, or when a live customer took the duplicate's name or uscc since."""
    survivor = await get_visible(
        session,
        Customer,
        survivor_id,
        actor=actor,
        visible=visible_to(actor, Customer.owner_id),
        for_update=True,
    )
    merge = await session.scalar(
        select(CustomerMerge)
        .where(
            CustomerMerge.organization_id == actor.organization_id,
            CustomerMerge.survivor_id == survivor.id,
            CustomerMerge.duplicate_id == duplicate_id,
            CustomerMerge.undone_at.is_(None),
        )
        .order_by(CustomerMerge.merged_at.desc())
        .limit(1)
        .with_for_update()
    )
    if merge is None:
        raise NotFound(
            f"No merge of {duplicate_id} into this customer is waiting to be undone.",
            code="customer_merge.not_found",
        )
    duplicate = await session.get_one(Customer, merge.duplicate_id, with_for_update=True)
    _refuse_late_or_chained(merge, survivor, now)
    await _refuse_moved_since(session, merge, survivor.id)
    await _refuse_taken_keys(session, actor, duplicate)
    for follower in FOLLOWERS:
        await _move(
            session,
            follower,
            actor.organization_id,
            from_id=survivor.id,
            to_id=duplicate.id,
            now=now,
            only=merge.moved.get(follower.kind, []),
        )
    await _restart_stopped_timers(session, merge.stopped_timers)
    duplicate.merged_into_id, duplicate.merged_at = None, None
    survivor.last_follow_up_at = merge.previous_last_follow_up_at
    merge.undone_at, merge.undone_by_id = now, actor.user_id
    await session.flush()
    await _announce(session, actor, merge, survivor, duplicate, undone=True)
    return merge


def _refuse_late_or_chained(merge: CustomerMerge, survivor: Customer, now: datetime) -> None:
    if now > undo_deadline(merge):
        raise Conflict(
            f"The merge of {merge.merged_at:%Y-%m-%d %H:%M} UTC is older than 7 days and can no longer "
            "be undone; move records by hand.",
            code="customer.merge_undo_expired",
        )
    if survivor.merged_into_id is not None:
        raise Conflict(
            "This customer was itself merged into another since; undo that merge first.",
            code="customer.merge_undo_blocked",
        )


async def _refuse_moved_since(session: AsyncSession, merge: CustomerMerge, survivor_id: uuid.UUID) -> None:
    """Every record the merge moved must still be on the survivor, or the undo would be partial."""
    errors = []
    for follower in FOLLOWERS:
        ids = merge.moved.get(follower.kind, [])
        in_place = 0
        for chunk in _chunks(ids):
            statement = select(func.count()).where(
                follower.model.id.in_(chunk), follower.column == survivor_id
            )
            in_place += await session.scalar(statement) or 0
        if in_place < len(ids):
            errors.append(
                FieldError(
                    follower.kind,
                    "changed",
                    f"{len(ids) - in_place} of {len(ids)} moved by the merge are no longer on this customer",
                )
            )
    if errors:
        raise Conflict(
            "Records the merge moved were moved again or deleted since, so an undo would be partial; "
            "move records by hand.",
            code="customer.merge_undo_changed",
            errors=errors,
        )


async def _refuse_taken_keys(session: AsyncSession, actor: Principal, duplicate: Customer) -> None:
    """A customer created (or renamed) since with the duplicate's name key or uscc blocks its return."""
    keys = CustomerKeys(name=duplicate.name_key, uscc=duplicate.uscc)
    taken = await customer_dedup.find_exact_matches(
        session, actor.organization_id, keys, exclude=duplicate.id
    )
    if taken:
        customer, matched_field = taken[0]
        raise Conflict(
            f"The customer {customer.code} now has this customer's {matched_field}; rename one first.",
            code="customer.merge_undo_clash",
            errors=[FieldError(matched_field, "duplicate", customer.code)],
        )


async def _restart_stopped_timers(session: AsyncSession, stopped: list[dict[str, Any]]) -> None:
    """Timers the merge cancelled run again as they were; the SLA sweep fires any that fell due."""
    for timer in stopped:
        await session.execute(
            update(SlaTimer)
            .where(SlaTimer.id == uuid.UUID(timer["id"]), SlaTimer.state == TimerState.cancelled)
            .values(
                state=TimerState(timer["state"]),
                next_fire_at=datetime.fromisoformat(timer["next_fire_at"]) if timer["next_fire_at"] else None,
                stopped_at=None,
                version=SlaTimer.version + 1,
            )
            .execution_options(synchronize_session=False)
        )


async def _announce(
    session: AsyncSession,
    actor: Principal,
    merge: CustomerMerge,
    survivor: Customer,
    duplicate: Customer,
    *,
    undone: bool,
) -> None:
    moved_counts = {kind: len(ids) for kind, ids in merge.moved.items()}
    await audit.record_audit(
        session,
        actor=actor,
        action="customer.merge_undone" if undone else "customer.merged",
        entity_type="customer",
        entity_id=survivor.id,
        after={
            "merge_id": merge.id,
            "duplicate_id": duplicate.id,
            "duplicate_code": duplicate.code,
            "moved": moved_counts,
        },
    )
    event_class = CustomerMergeUndone if undone else CustomerMerged
    owners = {owner for owner in (survivor.owner_id, duplicate.owner_id) if owner and owner != actor.user_id}
    outbox.record(
        session,
        organization_id=actor.organization_id,
        event=event_class(
            merge_id=merge.id,
            customer_id=survivor.id,
            customer_code=survivor.code,
            customer_name=survivor.name,
            duplicate_id=duplicate.id,
            duplicate_code=duplicate.code,
            duplicate_name=duplicate.name,
            moved_count=sum(moved_counts.values()),
            notify_user_ids=tuple(sorted(owners)),
        ),
    )
