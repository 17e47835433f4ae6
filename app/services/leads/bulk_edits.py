"""Bulk edits of leads and customers (supervisors and above): each item runs through the use case of
the one-record route (assign, release, tag, qualify or disqualify, reassign) in a savepoint of its
own, so an item that fails changes nothing of itself and neither undoes nor blocks the others. The
single use cases write the audit entry and the events of each item, exactly as their routes do."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadStatus
from app.domain.platform.errors import Conflict, DomainError, FieldError, InvalidInput
from app.domain.platform.tags import retagged
from app.services.assignment.ownership import resolve_owner
from app.services.customers import customers
from app.services.leads import lead_pool, lead_qualification, leads

MAX_ITEMS = 200


class LeadBulkAction(StrEnum):
    assign = "assign"
    release = "release"
    tag = "tag"
    untag = "untag"
    set_status = "set_status"


class CustomerBulkAction(StrEnum):
    reassign = "reassign"
    tag = "tag"
    untag = "untag"


# The statuses a lead is moved to by a use case of its own: qualify and disqualify.
SETTABLE_LEAD_STATUSES = (LeadStatus.qualified, LeadStatus.disqualified)


@dataclass(frozen=True)
class BulkEdit:
    """What the action needs besides the ids: the new owner, the tags, the status, the reason."""

    owner_id: uuid.UUID | None = None
    tags: tuple[str, ...] = ()
    status: LeadStatus | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ItemOutcome:
    id: uuid.UUID
    error: DomainError | None = None


Edit = Callable[[uuid.UUID], Awaitable[Any]]


async def edit_each(session: AsyncSession, ids: Sequence[uuid.UUID], edit: Edit) -> list[ItemOutcome]:
    """`edit` run on each id in its own savepoint, in order; the outcome of each."""
    outcomes: list[ItemOutcome] = []
    for item_id in ids:
        try:
            async with session.begin_nested():
                await edit(item_id)
        except DomainError as error:
            outcomes.append(ItemOutcome(item_id, error))
        except IntegrityError:  # a concurrent change took a key first: this item only
            outcomes.append(ItemOutcome(item_id, Conflict("A concurrent change conflicts; retry.")))
        else:
            outcomes.append(ItemOutcome(item_id))
    return outcomes


def _lead_edit(
    session: AsyncSession, actor: Principal, action: LeadBulkAction, edit: BulkEdit, now: datetime
) -> Edit:
    reason = edit.reason or ""  # _check_request: every action that records a reason has one

    async def assign(lead_id: uuid.UUID) -> Any:
        assert edit.owner_id is not None
        return await lead_pool.assign_manually(
            session, actor=actor, lead_id=lead_id, user_id=edit.owner_id, reason=reason, now=now
        )

    async def release(lead_id: uuid.UUID) -> Any:
        return await lead_pool.release_lead(session, actor=actor, lead_id=lead_id, reason=reason, now=now)

    async def retag(lead_id: uuid.UUID) -> Any:
        lead = await leads.get_lead(session, actor=actor, lead_id=lead_id, for_update=True)
        tags = retagged(lead.tags, edit.tags, add=action is LeadBulkAction.tag)
        return await leads.update_lead(
            session, actor=actor, lead_id=lead_id, changes={"tags": tags}, expected_version=None, now=now
        )

    async def set_status(lead_id: uuid.UUID) -> Any:
        if edit.status is LeadStatus.qualified:
            return await lead_qualification.qualify_lead(session, actor=actor, lead_id=lead_id, now=now)
        return await leads.disqualify_lead(session, actor=actor, lead_id=lead_id, reason=reason, now=now)

    edits: dict[LeadBulkAction, Edit] = {
        LeadBulkAction.assign: assign,
        LeadBulkAction.release: release,
        LeadBulkAction.tag: retag,
        LeadBulkAction.untag: retag,
        LeadBulkAction.set_status: set_status,
    }
    return edits[action]


def check_edit(action: str, edit: BulkEdit) -> None:
    """What each action needs is given: 422 naming the missing field otherwise."""
    needs = {
        "assign": ("owner_id", edit.owner_id is not None),
        "reassign": ("owner_id", edit.owner_id is not None),
        "tag": ("tags", bool(edit.tags)),
        "untag": ("tags", bool(edit.tags)),
        "set_status": ("status", edit.status in SETTABLE_LEAD_STATUSES),
    }
    if action in needs and not needs[action][1]:
        field = needs[action][0]
        raise InvalidInput(
            f"The action {action} needs {field}.",
            code="bulk.field_missing",
            errors=[_missing(field)],
        )
    if (action in ("assign", "release") or edit.status is LeadStatus.disqualified) and not edit.reason:
        raise InvalidInput(
            f"The action {action} needs a reason.", code="bulk.field_missing", errors=[_missing("reason")]
        )


async def _check_request(session: AsyncSession, actor: Principal, action: str, edit: BulkEdit) -> None:
    """What is wrong with the request as a whole is refused before any item (422): a missing field,
    or a new owner the caller may not give records to (another organization's, inactive, outside a
    supervisor's teams)."""
    check_edit(action, edit)
    if edit.owner_id is not None:
        await resolve_owner(session, actor, edit.owner_id, default=None, field="owner_id")


def _missing(field: str) -> FieldError:
    return FieldError(field, "missing", "required by this action")


async def edit_leads(
    session: AsyncSession,
    *,
    actor: Principal,
    action: LeadBulkAction,
    lead_ids: Sequence[uuid.UUID],
    edit: BulkEdit,
    now: datetime,
) -> list[ItemOutcome]:
    """Each lead edited as its one-record route would, in request order."""
    await _check_request(session, actor, action.value, edit)
    return await edit_each(session, lead_ids, _lead_edit(session, actor, action, edit, now))


async def edit_customers(
    session: AsyncSession,
    *,
    actor: Principal,
    action: CustomerBulkAction,
    customer_ids: Sequence[uuid.UUID],
    edit: BulkEdit,
) -> list[ItemOutcome]:
    """Each customer edited as `PATCH /customers/{id}` would (owner or tags), in request order."""
    await _check_request(session, actor, action.value, edit)

    async def change(customer_id: uuid.UUID) -> Any:
        if action is CustomerBulkAction.reassign:
            changes: dict[str, Any] = {"owner_id": edit.owner_id}
        else:
            customer = await customers.get_customer(
                session, actor=actor, customer_id=customer_id, for_update=True
            )
            changes = {"tags": retagged(customer.tags, edit.tags, add=action is CustomerBulkAction.tag)}
        return await customers.update_customer(
            session, actor=actor, customer_id=customer_id, changes=changes, expected_version=None
        )

    return await edit_each(session, customer_ids, change)
