"""What merging a duplicate record into a survivor needs, for customers and leads alike: moving
each kind of follower with one set-based UPDATE that returns the ids it moved (kept for an undo),
the SLA timers the merge stops, and the 7-day undo window with its refusals."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import SlaTimer, is_live
from app.domain.notifications.events import Event
from app.domain.platform.errors import Conflict, FieldError, InvalidInput, NotFound
from app.domain.sla.sla import TimerState
from app.services.platform import audit, change_log, outbox

M = TypeVar("M")

UNDO_WINDOW = timedelta(days=7)
# Ids named by one statement when moving records back (SQLite binds at most 32,766 parameters).
_ID_CHUNK = 1000


@dataclass(frozen=True)
class Follower:
    """A kind of record that belongs to its owner (customer or lead) through one column."""

    kind: str
    model: Any
    column: Any
    condition: ColumnElement[bool] | None = None
    # False for rows without version and updated_at (snapshots).
    versioned: bool = True
    # A column unique together with `column` (a health snapshot's day): a record whose value the
    # target already holds stays where it is.
    unique_with: Any = None


def undo_deadline(merged_at: datetime) -> datetime:
    return merged_at + UNDO_WINDOW


async def move(
    session: AsyncSession,
    follower: Follower,
    organization_id: uuid.UUID,
    *,
    from_id: uuid.UUID,
    to_id: uuid.UUID,
    now: datetime,
    only: Sequence[str] | None = None,
) -> list[uuid.UUID]:
    """Moves the follower's records (all, or `only` these ids) and returns the ids moved. Each moved
    versioned record's version and updated_at change, so ETags and `updated_since` sync notice."""
    model = follower.model
    statement = update(model).where(model.organization_id == organization_id, follower.column == from_id)
    if follower.condition is not None:
        statement = statement.where(follower.condition)
    if follower.unique_with is not None:
        held = select(follower.unique_with).where(
            model.organization_id == organization_id, follower.column == to_id
        )
        statement = statement.where(follower.unique_with.not_in(held.scalar_subquery()))
    values: dict[Any, Any] = {follower.column: to_id}
    if follower.versioned:
        values |= {model.version: model.version + 1, model.updated_at: now}
    statement = statement.values(values).returning(model.id).execution_options(synchronize_session=False)
    moved: list[uuid.UUID] = []
    if only is None:
        moved = list((await session.scalars(statement)).all())
    else:
        for chunk in chunks(only):
            moved.extend((await session.scalars(statement.where(model.id.in_(chunk)))).all())
    if follower.versioned:
        await change_log.record_changes(session, model, organization_id, moved)
    return moved


async def move_all(
    session: AsyncSession,
    followers: Iterable[Follower],
    organization_id: uuid.UUID,
    *,
    from_id: uuid.UUID,
    to_id: uuid.UUID,
    now: datetime,
) -> dict[str, list[str]]:
    """Every follower of `from_id` moved to `to_id`: {kind: [ids]}, as a merge row keeps them."""
    return {
        follower.kind: [
            str(record_id)
            for record_id in await move(
                session, follower, organization_id, from_id=from_id, to_id=to_id, now=now
            )
        ]
        for follower in followers
    }


async def move_back(
    session: AsyncSession,
    followers: Iterable[Follower],
    organization_id: uuid.UUID,
    moved: dict[str, list[str]],
    *,
    survivor_id: uuid.UUID,
    duplicate_id: uuid.UUID,
    now: datetime,
) -> None:
    """Exactly the records a merge moved go back to the duplicate."""
    for follower in followers:
        await move(
            session,
            follower,
            organization_id,
            from_id=survivor_id,
            to_id=duplicate_id,
            now=now,
            only=moved.get(follower.kind, []),
        )


class RecordedMerge(Protocol):
    """What a merge recorded for its undo: which records it joined, the ids it moved per kind, the
    timers it stopped."""

    @property
    def organization_id(self) -> uuid.UUID: ...

    @property
    def survivor_id(self) -> uuid.UUID: ...

    @property
    def duplicate_id(self) -> uuid.UUID: ...

    @property
    def moved(self) -> dict[str, Any]: ...

    @property
    def stopped_timers(self) -> list[dict[str, Any]]: ...


async def give_back(
    session: AsyncSession,
    followers: Iterable[Follower],
    merge: RecordedMerge,
    *,
    now: datetime,
    entity: str,
) -> None:
    """Undoes a merge's moves: refused unless every record it moved is still on the survivor; then
    exactly those go back to the duplicate and the timers it stopped run again."""
    await refuse_moved_since(session, followers, merge.moved, survivor_id=merge.survivor_id, entity=entity)
    await move_back(
        session,
        followers,
        merge.organization_id,
        merge.moved,
        survivor_id=merge.survivor_id,
        duplicate_id=merge.duplicate_id,
        now=now,
    )
    await restart_stopped_timers(session, merge.stopped_timers)


class MergedRecord(Protocol):
    """A survivor or a duplicate (a customer, a lead)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def organization_id(self) -> uuid.UUID: ...

    @property
    def owner_id(self) -> uuid.UUID | None: ...


async def announce(
    session: AsyncSession,
    actor: Principal,
    merge: Any,
    survivor: MergedRecord,
    duplicate: MergedRecord,
    *,
    entity: str,
    undone: bool,
    duplicate_named: dict[str, Any],
    event: Callable[..., Event],
    audited: dict[str, Any] | None = None,
) -> None:
    """Audits a merge (or its undo) on the survivor, `duplicate_named` naming the duplicate and
    `audited` added, and records the event `event(moved_count=, notify_user_ids=)` completes: the
    owners of both records hear of it, unless one of them did it."""
    moved_counts = {kind: len(ids) for kind, ids in merge.moved.items()}
    await audit.record_audit(
        session,
        actor=actor,
        action=f"{entity}.merge_undone" if undone else f"{entity}.merged",
        entity_type=entity,
        entity_id=survivor.id,
        after={
            "merge_id": merge.id,
            "duplicate_id": duplicate.id,
            **duplicate_named,
            "moved": moved_counts,
            **(audited or {}),
        },
    )
    owners = {owner for owner in (survivor.owner_id, duplicate.owner_id) if owner and owner != actor.user_id}
    outbox.record(
        session,
        organization_id=actor.organization_id,
        event=event(moved_count=sum(moved_counts.values()), notify_user_ids=tuple(sorted(owners))),
    )


def chunks(ids: Sequence[str]) -> list[list[uuid.UUID]]:
    return [[uuid.UUID(i) for i in ids[start : start + _ID_CHUNK]] for start in range(0, len(ids), _ID_CHUNK)]


async def stop_timers(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    duplicate_id: uuid.UUID,
    now: datetime,
    clashing_with: uuid.UUID | None = None,
) -> list[dict[str, Any]]:
    """Cancels the duplicate's live timers (only those of a policy `clashing_with` runs too, when
    given: one live timer per policy and record); the states they had are kept for an undo."""
    statement = select(SlaTimer).where(
        SlaTimer.organization_id == organization_id,
        SlaTimer.subject_id == duplicate_id,
        is_live(SlaTimer.state),
    )
    if clashing_with is not None:
        statement = statement.where(
            SlaTimer.policy_id.in_(
                select(SlaTimer.policy_id).where(
                    SlaTimer.organization_id == organization_id,
                    SlaTimer.subject_id == clashing_with,
                    is_live(SlaTimer.state),
                )
            )
        )
    timers = (await session.scalars(statement.with_for_update())).all()
    stopped = [
        {
            "id": str(timer.id),
            "state": timer.state.value,
            "next_fire_at": timer.next_fire_at.isoformat() if timer.next_fire_at else None,
        }
        for timer in timers
    ]
    for timer in timers:
        timer.state, timer.stopped_at, timer.next_fire_at = TimerState.cancelled, now, None
    await session.flush()
    return stopped


async def restart_stopped_timers(session: AsyncSession, stopped: list[dict[str, Any]]) -> None:
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


def refuse_merging_into_itself(survivor_id: uuid.UUID, duplicate_id: uuid.UUID, *, entity: str) -> None:
    if survivor_id == duplicate_id:
        raise InvalidInput(
            f"A {entity} cannot be merged into itself.",
            code=f"{entity}.merge_into_itself",
            errors=[FieldError("duplicate_id", "same", f"name another {entity}")],
        )


async def pending_merge(
    session: AsyncSession, model: type[M], survivor: MergedRecord, duplicate_id: uuid.UUID, *, entity: str
) -> M:
    """The latest merge of `duplicate_id` into the survivor that is not undone, locked; 404
    `<entity>_merge.not_found` without one."""
    merges: Any = model
    merge = await session.scalar(
        select(model)
        .where(
            merges.organization_id == survivor.organization_id,
            merges.survivor_id == survivor.id,
            merges.duplicate_id == duplicate_id,
            merges.undone_at.is_(None),
        )
        .order_by(merges.merged_at.desc())
        .limit(1)
        .with_for_update()
    )
    if merge is None:
        raise NotFound(
            f"No merge of {duplicate_id} into this {entity} is waiting to be undone.",
            code=f"{entity}_merge.not_found",
        )
    return merge


def refuse_late_or_chained(*, merged_at: datetime, survivor_merged: bool, now: datetime, entity: str) -> None:
    """`entity` names the record kind in the answer and its error codes ("customer", "lead")."""
    if now > undo_deadline(merged_at):
        raise Conflict(
            f"The merge of {merged_at:%Y-%m-%d %H:%M} UTC is older than 7 days and can no longer "
            "be undone; move records by hand.",
            code=f"{entity}.merge_undo_expired",
        )
    if survivor_merged:
        raise Conflict(
            f"This {entity} was itself merged into another since; undo that merge first.",
            code=f"{entity}.merge_undo_blocked",
        )


async def refuse_moved_since(
    session: AsyncSession,
    followers: Iterable[Follower],
    moved: dict[str, list[str]],
    *,
    survivor_id: uuid.UUID,
    entity: str,
) -> None:
    """Every record the merge moved must still be on the survivor, or the undo would be partial."""
    errors = []
    for follower in followers:
        ids = moved.get(follower.kind, [])
        in_place = 0
        for chunk in chunks(ids):
            statement = select(func.count()).where(
                follower.model.id.in_(chunk), follower.column == survivor_id
            )
            in_place += await session.scalar(statement) or 0
        if in_place < len(ids):
            errors.append(
                FieldError(
                    follower.kind,
                    "changed",
                    f"{len(ids) - in_place} of {len(ids)} moved by the merge are no longer on this {entity}",
                )
            )
    if errors:
        raise Conflict(
            "Records the merge moved were moved again or deleted since, so an undo would be partial; "
            "move records by hand.",
            code=f"{entity}.merge_undo_changed",
            errors=errors,
        )
