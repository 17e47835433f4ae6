"""Engagement events: each recorded once per event id, matched to its lead, contact or customer, and
warming their temperature in the same transaction (one row update each; no rescan of history)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.activities.activities import check_occurred_at
from app.domain.identity.principal import Principal
from app.domain.models import Contact, Customer, EngagementEvent, Lead
from app.domain.organization.policy import OrganizationPolicy
from app.domain.platform.dedup import normalise_email, normalise_phone
from app.domain.platform.errors import FieldError, InvalidInput
from app.domain.scores.engagement import (
    REFERENCES,
    EngagementType,
    Temperature,
    TemperatureReading,
    stored_temperature,
)
from app.services.organization.policy import rules_for
from app.services.platform.common import dialect_insert
from app.services.scores.lead_intent import rescore_leads, write_derived


@dataclass(frozen=True)
class NewEngagementEvent:
    event_id: str
    type: EngagementType
    occurred_at: datetime
    lead_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    customer_code: str | None = None
    phone: str | None = None
    email: str | None = None

    @property
    def key(self) -> tuple[str, Any]:
        """The one reference it gives (the first, were there several)."""
        return next(
            ((name, getattr(self, name)) for name in REFERENCES if getattr(self, name) is not None),
            ("", None),
        )


@dataclass(frozen=True)
class Target:
    """The records an event is about: a lead (and its customer, once converted), or a contact and
    its customer, or a customer."""

    lead_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None


@dataclass(frozen=True)
class RecordedEngagement:
    event_id: str
    is_new: bool
    target: Target


class _Ambiguous(Exception):
    """Contacts of more than one customer have this phone or e-mail."""


async def temperature_reading(
    session: AsyncSession, organization_id: uuid.UUID, now: datetime
) -> TemperatureReading:
    """Reads stored temperatures as of `now` under the organization's half-life."""
    policy = await rules_for(session, organization_id)
    return TemperatureReading(now, policy.temperature.half_life)


async def record_engagement_events(
    session: AsyncSession, *, actor: Principal, events: Sequence[NewEngagementEvent], now: datetime
) -> list[RecordedEngagement]:
    """Every event matched first: one that matches nothing refuses the whole batch (422 naming each
    index), so nothing is half-recorded. A repeated event id is accepted and not counted again."""
    _refuse_future_events(events, now)
    targets = await _resolve(session, actor.organization_id, events)
    policy = await rules_for(session, actor.organization_id)
    first_of_id = {event.event_id: index for index, event in reversed(list(enumerate(events)))}
    candidates = [(events[index], targets[index]) for index in sorted(first_of_id.values())]
    new_ids = await _insert_new(session, actor.organization_id, candidates, policy, now)
    await _warm(session, [(e, t) for e, t in candidates if e.event_id in new_ids], policy, now)
    return [
        RecordedEngagement(
            event.event_id, first_of_id[event.event_id] == index and event.event_id in new_ids, targets[index]
        )
        for index, event in enumerate(events)
    ]


def _refuse_future_events(events: Sequence[NewEngagementEvent], now: datetime) -> None:
    errors = []
    for index, event in enumerate(events):
        try:
            check_occurred_at(event.occurred_at, now)
        except InvalidInput as invalid:
            errors += [FieldError(f"events[{index}].occurred_at", e.code, e.message) for e in invalid.errors]
    if errors:
        raise InvalidInput(
            "Engagement events cannot happen in the future; none was recorded.",
            code="engagement.occurred_in_future",
            errors=errors,
        )


async def _insert_new(
    session: AsyncSession,
    organization_id: uuid.UUID,
    candidates: list[tuple[NewEngagementEvent, Target]],
    policy: OrganizationPolicy,
    now: datetime,
) -> set[str]:
    """The event ids this call stored: the unique key skips those stored before, concurrent
    retries included."""
    rows = [
        {
            "id": uuid.uuid4(),
            "organization_id": organization_id,
            "created_at": now,
            "updated_at": now,
            "version": 1,
            "event_id": event.event_id,
            "type": event.type,
            "occurred_at": event.occurred_at,
            "weight": policy.temperature.weights[event.type],
            "lead_id": target.lead_id,
            "contact_id": target.contact_id,
            "customer_id": target.customer_id,
        }
        for event, target in candidates
    ]
    table = EngagementEvent.__table__
    statement = dialect_insert(session)(table).on_conflict_do_nothing().returning(table.c.event_id)
    return set((await session.scalars(statement, rows)).all())


async def _locked(session: AsyncSession, model: Any, ids: set[uuid.UUID]) -> dict[uuid.UUID, Any]:
    # In id order, leads before customers (as activities lock them): concurrent batches queue, never
    # deadlock.
    if not ids:
        return {}
    rows = await session.scalars(select(model).where(model.id.in_(ids)).order_by(model.id).with_for_update())
    return {row.id: row for row in rows}


def _warmed(
    warmed: dict[uuid.UUID, Temperature | None],
    row: Lead | Customer,
    weight: float,
    occurred_at: datetime,
    policy: OrganizationPolicy,
) -> None:
    stored = warmed.get(row.id, stored_temperature(row.temperature, row.temperature_at))
    warmed[row.id] = (
        Temperature(weight, occurred_at)
        if stored is None
        else stored.with_event(weight, occurred_at, policy.temperature.half_life)
    )


async def _warm(
    session: AsyncSession,
    new: list[tuple[NewEngagementEvent, Target]],
    policy: OrganizationPolicy,
    now: datetime,
) -> None:
    """Each lead and customer the new events are about: locked once, every event folded in, one
    update; the leads' intent scores follow."""
    leads = await _locked(session, Lead, {t.lead_id for _, t in new if t.lead_id})
    customers = await _locked(session, Customer, {t.customer_id for _, t in new if t.customer_id})
    warm_leads: dict[uuid.UUID, Temperature | None] = {}
    warm_customers: dict[uuid.UUID, Temperature | None] = {}
    for event, target in new:
        weight = policy.temperature.weights[event.type]
        if target.lead_id is not None:
            _warmed(warm_leads, leads[target.lead_id], weight, event.occurred_at, policy)
        if target.customer_id is not None:
            _warmed(warm_customers, customers[target.customer_id], weight, event.occurred_at, policy)
    # A temperature is derived like a score: warming a record leaves its version (docs/scoring.md).
    for model, warmed, rows in ((Lead, warm_leads, leads), (Customer, warm_customers, customers)):
        values = {
            row_id: {"temperature": t.value, "temperature_at": t.at} for row_id, t in warmed.items() if t
        }
        await write_derived(session, model, values, list(rows.values()))
    await rescore_leads(session, list(leads.values()), policy=policy, now=now)
    await session.flush()


async def _resolve(
    session: AsyncSession, organization_id: uuid.UUID, events: Sequence[NewEngagementEvent]
) -> list[Target]:
    """Each event's target, or InvalidInput naming every event that has none."""
    found = await _Lookup(session, organization_id).targets(events)
    errors = []
    for index, event in enumerate(events):
        name, value = event.key
        target = found.get((name, value))
        if isinstance(target, Target):
            continue
        errors.append(FieldError(f"events[{index}].{name or 'lead_id'}", *_why_unmatched(name, target)))
    if errors:
        raise InvalidInput(
            f"{len(errors)} of {len(events)} engagement events match no lead, contact or customer of "
            "this organization; none was recorded.",
            code="engagement.unmatched",
            errors=errors,
        )
    return [found[event.key] for event in events]  # type: ignore[misc]


def _why_unmatched(name: str, outcome: object) -> tuple[str, str]:
    if not name:
        return "missing", "give lead_id, contact_id, customer_id, customer_code, phone or email"
    if outcome is _Ambiguous:
        return "ambiguous", "contacts of several customers have it; give contact_id or customer_id"
    if outcome is ValueError:
        return "invalid", f"not a valid {name}"
    return "not_found", f"no lead, contact or customer of this organization has this {name}"


class _Lookup:
    """Finds the targets of a batch's references, a few statements for the whole batch."""

    def __init__(self, session: AsyncSession, organization_id: uuid.UUID) -> None:
        self.session, self.organization_id = session, organization_id

    async def targets(self, events: Sequence[NewEngagementEvent]) -> dict[tuple[str, Any], object]:
        """(reference name, value) -> its Target, or _Ambiguous, or ValueError (unreadable)."""
        wanted: dict[str, set[Any]] = {name: set() for name in REFERENCES}
        for event in events:
            name, value = event.key
            if name:
                wanted[name].add(value)
        found: dict[tuple[str, Any], object] = {}
        for name, column in (
            ("lead_id", Lead.id),
            ("contact_id", Contact.id),
            ("customer_id", Customer.id),
            ("customer_code", Customer.code),
        ):
            for row in await self._rows(column, wanted[name]):
                found[(name, row.value)] = _target_of(column.class_, row)
        for name, normalise, lead_column, contact_column in (
            ("phone", normalise_phone, Lead.phone_key, Contact.phone),
            ("email", normalise_email, Lead.email_key, Contact.email),
        ):
            found |= await self._by_contact_detail(name, wanted[name], normalise, lead_column, contact_column)
        return found

    async def _rows(self, column: Any, values: set[Any]) -> list[Any]:
        """(id, customer_id, value) of this organization's rows whose `column` is one of `values`."""
        if not values:
            return []
        model = column.class_
        customer_id = model.id if model is Customer else model.customer_id
        statement = select(model.id, customer_id.label("customer_id"), column.label("value")).where(
            model.organization_id == self.organization_id, column.in_(values)
        )
        return list(await self.session.execute(statement))

    async def _by_contact_detail(
        self, name: str, raw_values: set[str], normalise: Any, lead_column: Any, contact_column: Any
    ) -> dict[tuple[str, Any], object]:
        """The lead with this phone (e-mail), which is unique; else the contacts with it, who must
        all be one customer's."""
        keys: dict[str, str | None] = {raw: normalise(raw) for raw in raw_values}
        by_key: dict[str, object] = {
            row.value: _target_of(Lead, row)
            for row in await self._rows(lead_column, {k for k in keys.values() if k})
        }
        contacts: dict[str, list[Any]] = {}
        for row in await self._rows(contact_column, {k for k in keys.values() if k and k not in by_key}):
            contacts.setdefault(row.value, []).append(row)
        for key, rows in contacts.items():
            if len({row.customer_id for row in rows}) > 1:
                by_key[key] = _Ambiguous
            else:
                only = rows[0].id if len(rows) == 1 else None
                by_key[key] = Target(contact_id=only, customer_id=rows[0].customer_id)
        return {(name, raw): (by_key.get(key) if key else ValueError) for raw, key in keys.items()}


def _target_of(model: Any, row: Any) -> Target:
    if model is Lead:
        return Target(lead_id=row.id, customer_id=row.customer_id)
    if model is Contact:
        return Target(contact_id=row.id, customer_id=row.customer_id)
    return Target(customer_id=row.id)
