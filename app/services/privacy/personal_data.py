"""A person's data under China's PIPL: erasure on request (lead, contact) and export of everything
stored about one phone number or e-mail address.

Erasure replaces the personal fields with a tombstone and keeps the sales facts (company, amounts,
statuses, dates, activities' types and outcomes). It is irreversible: the audit rows of the record
lose their copies of the erased values too, and the erasure's own row says who and when, not what.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import INCLUDE_DELETED
from app.domain.identity.principal import Principal
from app.domain.models import (
    Activity,
    AuditEvent,
    Contact,
    Delivery,
    EngagementEvent,
    Lead,
    Notification,
    OutboxEvent,
)
from app.domain.notifications.events import ContactErased, LeadErased
from app.domain.platform.dedup import normalise_contact
from app.domain.platform.errors import FieldError, InvalidInput, NotFound
from app.services.platform import audit, outbox
from app.services.platform.common import like_pattern

TOMBSTONE = "erased"
# The fields that identify or describe the person; the rest of the record is sales facts.
LEAD_PERSONAL_FIELDS = ("name", "phone", "email", "wechat", "notes", "phone_key", "email_key")
# A role note is free text about the person ("the owner's brother-in-law"): it goes too.
CONTACT_PERSONAL_FIELDS = ("name", "title", "phone", "email", "wechat_id", "role_note")
# Audit keys that hold a person's values: the fields, and a duplicate merged into the lead (its
# details: name, phone, e-mail, notes...).
_AUDIT_PERSONAL_KEYS = frozenset({*LEAD_PERSONAL_FIELDS, *CONTACT_PERSONAL_FIELDS, "merged"})


async def _locked(session: AsyncSession, model: Any, record_id: uuid.UUID, actor: Principal) -> Any:
    """The record of the actor's organization, deleted or not (a deleted record is still stored)."""
    record = await session.scalar(
        select(model)
        .where(model.id == record_id, model.organization_id == actor.organization_id)
        .with_for_update()
        .execution_options(**INCLUDE_DELETED)
    )
    if record is None:
        raise NotFound(
            f"{model.__name__} {record_id} was not found.", code=f"{model.__tablename__}.not_found"
        )
    return record


async def erase_lead(
    session: AsyncSession, *, actor: Principal, lead_id: uuid.UUID, reason: str, now: datetime
) -> Lead:
    lead: Lead = await _locked(session, Lead, lead_id, actor)
    await _scrub_messages(session, actor, lead)
    lead.name = TOMBSTONE
    lead.phone = lead.email = lead.wechat = lead.notes = lead.phone_key = lead.email_key = None
    lead.erased_at = now
    # The notes written on the lead's activities are about the person; their type, time and
    # outcome are the sales facts that stay.
    notes = await session.scalars(
        select(Activity)
        .where(Activity.organization_id == actor.organization_id, Activity.lead_id == lead.id)
        .execution_options(**INCLUDE_DELETED)
    )
    for activity in notes:
        activity.notes = None
    await session.flush()
    await _scrub_audit(session, actor, "lead", lead.id)
    await _record_erasure(session, actor, "lead", lead.id, LEAD_PERSONAL_FIELDS, reason, now)
    outbox.record(
        session,
        organization_id=actor.organization_id,
        event=LeadErased(lead_id=lead.id, actor_id=actor.actor_id),
    )
    return lead


async def erase_contact(
    session: AsyncSession, *, actor: Principal, contact_id: uuid.UUID, reason: str, now: datetime
) -> Contact:
    contact: Contact = await _locked(session, Contact, contact_id, actor)
    await _blank_mentions(session, actor, contact)
    contact.name = TOMBSTONE
    contact.title = contact.phone = contact.email = contact.wechat_id = contact.role_note = None
    contact.erased_at = now
    await session.flush()
    await _scrub_audit(session, actor, "contact", contact.id)
    await _record_erasure(session, actor, "contact", contact.id, CONTACT_PERSONAL_FIELDS, reason, now)
    outbox.record(
        session,
        organization_id=actor.organization_id,
        event=ContactErased(contact_id=contact.id, customer_id=contact.customer_id, actor_id=actor.actor_id),
    )
    return contact


# Event payload keys that carry a lead's name (lead.* events, and SLA events about the lead).
_NAME_KEYS = frozenset({"lead_name", "subject_name"})


async def _scrub_messages(session: AsyncSession, actor: Principal, lead: Lead) -> None:
    """Events about the lead kept their copy of its name: in the outbox, in webhook and chat
    deliveries and in in-app notifications. They now say "erased". (A scan of the organization's
    events by payload: an admin's rare request.)"""
    lead_id = str(lead.id)
    events = list(
        await session.scalars(
            select(OutboxEvent).where(
                OutboxEvent.organization_id == actor.organization_id,
                or_(
                    OutboxEvent.payload["lead_id"].as_string() == lead_id,
                    OutboxEvent.payload["subject_id"].as_string() == lead_id,
                ),
            )
        )
    )
    if not events:
        return
    event_ids = [event.id for event in events]
    # The names the messages were written with (the lead may have been renamed since).
    names = {lead.name} | {
        str(event.payload[key]) for event in events for key in _NAME_KEYS & event.payload.keys()
    }
    names = {name for name in names if len(name) >= 2 and name != TOMBSTONE}
    for event in events:
        event.payload = _renamed(event.payload)
    for delivery in await session.scalars(select(Delivery).where(Delivery.event_id.in_(event_ids))):
        delivery.payload = _renamed(delivery.payload)
    for notification in await session.scalars(
        select(Notification).where(Notification.event_id.in_(event_ids))
    ):
        for name in sorted(names, key=len, reverse=True):
            notification.title = notification.title.replace(name, TOMBSTONE)
            notification.body = notification.body.replace(name, TOMBSTONE)
        notification.data = _renamed(notification.data)


def _renamed(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: (TOMBSTONE if key in _NAME_KEYS else value) for key, value in payload.items()}


async def _blank_mentions(session: AsyncSession, actor: Principal, contact: Contact) -> None:
    """The contact's name, phone and e-mail written into its customer's activity notes become
    "[erased]"; the rest of each note (what was discussed) stays."""
    values = [contact.name, *_written_forms(contact.phone, contact.email)]
    values = [value for value in values if value and len(value) >= 2]
    activities = await session.scalars(
        select(Activity)
        .where(
            Activity.organization_id == actor.organization_id,
            Activity.customer_id == contact.customer_id,
            or_(*(Activity.notes.like(like_pattern(value), escape="\\") for value in values)),
        )
        .execution_options(**INCLUDE_DELETED)
    )
    for activity in activities:
        notes = activity.notes or ""
        for value in values:
            notes = notes.replace(value, "[erased]")
        activity.notes = notes


async def _scrub_audit(
    session: AsyncSession, actor: Principal, entity_type: str, entity_id: uuid.UUID
) -> None:
    """The record's audit rows keep what was done and by whom, but no longer the person's values."""
    rows = await session.scalars(
        select(AuditEvent).where(
            AuditEvent.organization_id == actor.organization_id,
            AuditEvent.entity_type == entity_type,
            AuditEvent.entity_id == entity_id,
        )
    )
    for row in rows:
        row.before = _scrubbed(row.before)
        row.after = _scrubbed(row.after)
    await session.flush()


def _scrubbed(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {key: (None if key in _AUDIT_PERSONAL_KEYS else value) for key, value in values.items()}


async def _record_erasure(
    session: AsyncSession,
    actor: Principal,
    entity_type: str,
    entity_id: uuid.UUID,
    fields: Sequence[str],
    reason: str,
    now: datetime,
) -> None:
    await audit.record_audit(
        session,
        actor=actor,
        action=f"{entity_type}.erased",
        entity_type=entity_type,
        entity_id=entity_id,
        after={"erased_at": now, "erased_fields": list(fields), "reason": reason},
    )


@dataclass(frozen=True)
class PersonExport:
    phone: str | None
    email: str | None
    leads: list[Lead]
    contacts: list[Contact]
    activities: list[Activity]
    engagement_events: list[EngagementEvent]

    @property
    def deleted_ids(self) -> list[uuid.UUID]:
        records: Iterable[Any] = (*self.leads, *self.contacts, *self.activities)
        return [record.id for record in records if record.deleted_at is not None]


async def export_person(
    session: AsyncSession, *, actor: Principal, phone: str | None, email: str | None
) -> PersonExport:
    """Everything stored about the person with this phone number or e-mail address (either or
    both), deleted records included: an answer to a PIPL access request."""
    if not (phone or email):
        raise InvalidInput(
            "Give the person's phone or email.",
            code="people.no_identifier",
            errors=[FieldError("phone", "missing", "give phone, email or both")],
        )
    phone_key, email_key = normalise_contact(phone, email)
    org = actor.organization_id
    found_leads = await _all(
        session, select(Lead).where(Lead.organization_id == org, _either(Lead, phone_key, email_key))
    )
    found_contacts = await _all(
        session, select(Contact).where(Contact.organization_id == org, _either(Contact, phone_key, email_key))
    )
    lead_ids = [lead.id for lead in found_leads]
    contact_ids = [contact.id for contact in found_contacts]
    mentions = [Activity.lead_id.in_(lead_ids)] + [
        Activity.notes.like(like_pattern(value), escape="\\")
        for value in _written_forms(phone_key, email_key)
    ]
    found_activities = await _all(
        session,
        select(Activity)
        .where(Activity.organization_id == org, or_(*mentions))
        .order_by(Activity.occurred_at),
    )
    engagement = await _all(
        session,
        select(EngagementEvent)
        .where(
            EngagementEvent.organization_id == org,
            or_(EngagementEvent.lead_id.in_(lead_ids), EngagementEvent.contact_id.in_(contact_ids)),
        )
        .order_by(EngagementEvent.occurred_at),
    )
    return PersonExport(phone_key, email_key, found_leads, found_contacts, found_activities, engagement)


def _written_forms(phone: str | None, email: str | None) -> list[str]:
    """How notes write the phone and e-mail: E.164 and, for a Chinese number, the 11 digits alone
    (a LIKE over the organization's activities: an admin's rare request, not a screen)."""
    forms = [value for value in (phone, email) if value]
    if phone and phone.startswith("+86"):
        forms.append(phone.removeprefix("+86"))
    return forms


def _either(model: Any, phone: str | None, email: str | None) -> Any:
    conditions = []
    if phone:
        conditions.append(model.phone == phone)
    if email:
        conditions.append(model.email == email)
    return or_(*conditions)


async def _all(session: AsyncSession, statement: Any) -> list[Any]:
    return list((await session.scalars(statement.execution_options(**INCLUDE_DELETED))).all())
