"""Soft delete and restore of leads, customers, contacts and activities.

A deleted record is marked (`deleted_at`, `deleted_by_id`), not removed: every ORM read leaves it
out (app/db.py `SoftDeletable`), its children stay where they are, and the audit trail keeps it.
Who may: admins and directors any record of the organization, a supervisor his teams' records, a
rep his own (the owner of the lead, customer or activity; a contact follows its customer's owner).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import INCLUDE_DELETED
from app.domain.identity.principal import Principal
from app.domain.models import Activity, Contact, Customer, Lead, Opportunity
from app.domain.notifications.events import (
    ActivityDeleted,
    ActivityRestored,
    ContactDeleted,
    ContactRestored,
    CustomerDeleted,
    CustomerRestored,
    Event,
    LeadDeleted,
    LeadRestored,
)
from app.domain.pipelines.opportunities import OpportunityStatus
from app.domain.platform.dedup import CustomerKeys
from app.domain.platform.errors import Conflict, FieldError, NotFound
from app.domain.sla.sla import SlaKind, TimerState
from app.services.customers import customer_dedup
from app.services.leads import leads
from app.services.platform import audit, outbox
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page, SortOrder, paginate
from app.services.platform.visibility import visible_to
from app.services.sla import sla

SoftDeleted = Lead | Customer | Contact | Activity


def _contact_rule(actor: Principal) -> ColumnElement[bool]:
    owned_customers = select(Customer.id).where(
        Customer.organization_id == actor.organization_id, visible_to(actor, Customer.owner_id)
    )
    return Contact.customer_id.in_(owned_customers)


@dataclass(frozen=True)
class _Kind:
    """How one kind of record is deleted: who may, and what it announces."""

    model: Any
    entity: str
    rule: Callable[[Principal], ColumnElement[bool]]
    deleted: Callable[[Any, Principal], Event]
    restored: Callable[[Any, Principal], Event]


def _lead_event(event: type[LeadDeleted] | type[LeadRestored]) -> Callable[[Any, Principal], Event]:
    return lambda lead, actor: event(lead_id=lead.id, actor_id=actor.actor_id)


def _customer_event(
    event: type[CustomerDeleted] | type[CustomerRestored],
) -> Callable[[Any, Principal], Event]:
    return lambda customer, actor: event(
        customer_id=customer.id, customer_code=customer.code, actor_id=actor.actor_id
    )


def _contact_event(event: type[ContactDeleted] | type[ContactRestored]) -> Callable[[Any, Principal], Event]:
    return lambda contact, actor: event(
        contact_id=contact.id, customer_id=contact.customer_id, actor_id=actor.actor_id
    )


def _activity_event(
    event: type[ActivityDeleted] | type[ActivityRestored],
) -> Callable[[Any, Principal], Event]:
    return lambda activity, actor: event(activity_id=activity.id, actor_id=actor.actor_id)


KINDS: dict[str, _Kind] = {
    "lead": _Kind(
        Lead,
        "lead",
        lambda actor: visible_to(actor, Lead.owner_id),
        _lead_event(LeadDeleted),
        _lead_event(LeadRestored),
    ),
    "customer": _Kind(
        Customer,
        "customer",
        # A merged customer is an alias of its survivor: the survivor is what one deletes.
        lambda actor: and_(visible_to(actor, Customer.owner_id), Customer.merged_into_id.is_(None)),
        _customer_event(CustomerDeleted),
        _customer_event(CustomerRestored),
    ),
    "contact": _Kind(
        Contact, "contact", _contact_rule, _contact_event(ContactDeleted), _contact_event(ContactRestored)
    ),
    "activity": _Kind(
        Activity,
        "activity",
        lambda actor: visible_to(actor, Activity.owner_id),
        _activity_event(ActivityDeleted),
        _activity_event(ActivityRestored),
    ),
}


async def _load(
    session: AsyncSession, kind: _Kind, record_id: uuid.UUID, actor: Principal, *, deleted: bool
) -> Any:
    """The record the actor may delete (deleted=False) or restore (deleted=True), locked, or 404.
    Restoring a record that is not deleted is a 409."""
    statement = (
        select(kind.model)
        .where(
            kind.model.id == record_id, kind.model.organization_id == actor.organization_id, kind.rule(actor)
        )
        .with_for_update()
    )
    if deleted:
        statement = statement.execution_options(**INCLUDE_DELETED)
    record = await session.scalar(statement)
    if record is None:
        raise NotFound(f"{kind.model.__name__} {record_id} was not found.", code=f"{kind.entity}.not_found")
    if deleted and record.deleted_at is None:
        raise Conflict(
            f"{kind.model.__name__} {record_id} is not deleted.", code=f"{kind.entity}.not_deleted"
        )
    return record


async def delete_record(
    session: AsyncSession, *, actor: Principal, entity: str, record_id: uuid.UUID, now: datetime
) -> None:
    kind = KINDS[entity]
    record = await _load(session, kind, record_id, actor, deleted=False)
    if isinstance(record, Customer):
        await _refuse_open_deals(session, record)
    if isinstance(record, Lead | Customer):
        await _cancel_timers(session, record, now)
    if isinstance(record, Lead):
        # The keys free the phone and e-mail for a new lead; a restore computes them again.
        record.phone_key = record.email_key = record.company_key = None
    record.deleted_at, record.deleted_by_id = now, actor.user_id
    await _announce(session, actor, kind, record, action="deleted", event=kind.deleted(record, actor))


async def restore_record(
    session: AsyncSession, *, actor: Principal, entity: str, record_id: uuid.UUID
) -> SoftDeleted:
    kind = KINDS[entity]
    record = await _load(session, kind, record_id, actor, deleted=True)
    if isinstance(record, Lead):
        await _take_keys_back(session, actor, record)
    if isinstance(record, Customer):
        await _refuse_live_twin(session, actor, record)
    record.deleted_at, record.deleted_by_id = None, None
    await _announce(session, actor, kind, record, action="restored", event=kind.restored(record, actor))
    return record  # type: ignore[no-any-return]


async def _announce(
    session: AsyncSession, actor: Principal, kind: _Kind, record: Any, *, action: str, event: Event
) -> None:
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action=f"{kind.entity}.{action}",
        entity_type=kind.entity,
        entity_id=record.id,
        after={"deleted_at": record.deleted_at, "deleted_by_id": record.deleted_by_id},
    )
    outbox.record(session, organization_id=actor.organization_id, event=event)


async def _refuse_open_deals(session: AsyncSession, customer: Customer) -> None:
    """A customer with open deals is not deleted: they would vanish from the pipeline unseen."""
    open_deals = (
        await session.scalars(
            select(Opportunity.id)
            .where(
                Opportunity.organization_id == customer.organization_id,
                Opportunity.customer_id == customer.id,
                Opportunity.status == OpportunityStatus.open,
            )
            .order_by(Opportunity.created_at)
            .limit(20)
        )
    ).all()
    if open_deals:
        error = Conflict(
            f"Customer {customer.code} has open opportunities; win, lose or move them first.",
            code="customer.has_open_opportunities",
            errors=[FieldError("opportunity_id", "open", str(deal_id)) for deal_id in open_deals],
        )
        error.extensions = {"opportunity_ids": ",".join(str(deal_id) for deal_id in open_deals)}
        raise error


async def _cancel_timers(session: AsyncSession, record: Lead | Customer, now: datetime) -> None:
    """A deleted record's SLA timers stop (cancelled): nobody is to be chased about it. A restore
    does not start them again; the next assignment or follow-up does."""
    for kind in SlaKind:
        await sla.stop_timers(
            session,
            organization_id=record.organization_id,
            kind=kind,
            subject_id=record.id,
            outcome=TimerState.cancelled,
            now=now,
        )


async def _take_keys_back(session: AsyncSession, actor: Principal, lead: Lead) -> None:
    """A restored lead de-duplicates again: refused (409 naming the lead) while a live lead holds
    its phone or e-mail."""
    keys = leads.lead_keys(lead.phone, lead.email, lead.company)
    duplicate = await leads.find_exact_duplicate(session, lead.organization_id, keys, exclude=lead.id)
    if duplicate is not None:
        raise await leads.duplicate_lead(session, actor, *duplicate)
    lead.phone_key, lead.email_key, lead.company_key = keys.phone, keys.email, keys.company


async def _refuse_live_twin(session: AsyncSession, actor: Principal, customer: Customer) -> None:
    """A restored customer may not share its name, uscc, phone or e-mail with a live one (created
    meanwhile): the unique indexes on live customers would refuse it at commit."""
    keys = CustomerKeys(
        name=customer.name_key, uscc=customer.uscc, phone=customer.phone, email=customer.email
    )
    await customer_dedup.refuse_exact_duplicate(session, actor, keys, exclude=customer.id)


async def list_deleted(
    session: AsyncSession,
    *,
    actor: Principal,
    entity: str,
    limit: int,
    cursor: str | None,
    deleted_since: datetime | None = None,
    options: ListOptions = NO_OPTIONS,
    sort: str = "-deleted_at",
) -> Page[Any]:
    """The organization's deleted leads or customers, the most recently deleted first; with
    `deleted_since`, the deletions a client syncing by `updated_since` has not seen yet."""
    model: Any = KINDS[entity].model
    sortable = {"deleted_at": model.deleted_at, "updated_at": model.updated_at}
    order = SortOrder.parse(sort, sortable)
    statement = (
        select(model)
        .where(model.organization_id == actor.organization_id, model.deleted_at.is_not(None))
        .execution_options(**INCLUDE_DELETED)
    )
    if deleted_since is not None:
        statement = statement.where(model.deleted_at >= deleted_since)
    return await paginate(
        session,
        statement,
        sort_column=sortable[order.name],
        id_column=model.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )
