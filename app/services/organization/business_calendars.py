"""Business calendars: an organization's named working-time calendars; the default one drives its SLA
timers (policy.py beside it), the organization settings being the fallback when none is default."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import BusinessCalendarRecord, Organization
from app.domain.platform.errors import Conflict, FieldError, InvalidInput
from app.domain.sla.calendars import (
    BusinessCalendar,
    add_business_minutes,
    calendar_as_dict,
    parse_calendar,
    with_public_holidays,
)
from app.services.platform import audit
from app.services.platform.common import OrganizationList, check_version, get_visible

# The fields that make up the calendar itself, in parse_calendar's JSON form.
CALENDAR_FIELDS = ("timezone", "week", "holidays", "workdays")


def calendar_of(record: BusinessCalendarRecord) -> BusinessCalendar:
    """The domain calendar a stored record describes, public holidays merged in."""
    return with_public_holidays(
        parse_calendar({name: getattr(record, name) for name in CALENDAR_FIELDS}), record.public_holidays
    )


def _validated(fields: dict[str, Any], public_holidays: str | None) -> dict[str, Any]:
    """The calendar fields normalised (sorted, days off dropped), or InvalidInput listing every problem."""
    calendar = parse_calendar({name: fields[name] for name in CALENDAR_FIELDS if name in fields})
    if not calendar.week:
        # SLA timers could never come due on it.
        raise _invalid("week", "calendar.no_working_time", "name at least one weekday with working hours")
    try:
        with_public_holidays(calendar, public_holidays)
    except ValueError as exc:
        raise _invalid("public_holidays", "calendar.public_holidays", str(exc)) from exc
    return calendar_as_dict(calendar)


def _invalid(field: str, code: str, message: str) -> InvalidInput:
    return InvalidInput(
        "The business calendar is not valid.",
        code="calendar.invalid",
        errors=[FieldError(field, code, message)],
    )


def _snapshot(record: BusinessCalendarRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        **{name: getattr(record, name) for name in CALENDAR_FIELDS},
        "public_holidays": record.public_holidays,
        "is_default": record.is_default,
    }


async def _check_name_free(
    session: AsyncSession, *, actor: Principal, name: str, except_id: uuid.UUID | None = None
) -> None:
    statement = select(BusinessCalendarRecord.id).where(
        BusinessCalendarRecord.organization_id == actor.organization_id, BusinessCalendarRecord.name == name
    )
    if except_id is not None:
        statement = statement.where(BusinessCalendarRecord.id != except_id)
    existing = await session.scalar(statement)
    if existing is not None:
        error = Conflict(f"A business calendar named {name!r} exists.", code="business_calendar.name_taken")
        error.extensions["existing_id"] = str(existing)
        raise error


async def _lock_default(session: AsyncSession, *, actor: Principal) -> None:
    """Serialises changes of the organization's default calendar on its organization row, taken before
    any calendar row so that two such requests cannot deadlock; the partial unique index (one default
    per organization) stays the last line. NO KEY UPDATE leaves inserts referencing the row free."""
    await session.scalar(
        select(Organization.id)
        .where(Organization.id == actor.organization_id)
        .with_for_update(key_share=True)
    )


async def _unset_default(session: AsyncSession, *, actor: Principal, keep: uuid.UUID | None) -> None:
    """Clears the organization's current default; call `_lock_default` first."""
    current = await session.scalars(
        select(BusinessCalendarRecord).where(
            BusinessCalendarRecord.organization_id == actor.organization_id,
            BusinessCalendarRecord.is_default,  # as the partial index reads it
        )
    )
    for record in current:
        if record.id != keep:
            record.is_default = False
    # Flushed before the new default is written: the unique index is checked row by row.
    await session.flush()


async def create_calendar(
    session: AsyncSession, *, actor: Principal, fields: dict[str, Any]
) -> BusinessCalendarRecord:
    calendar = _validated(fields, fields.get("public_holidays"))
    await _check_name_free(session, actor=actor, name=fields["name"])
    is_default = bool(fields.get("is_default"))
    if is_default:
        await _lock_default(session, actor=actor)
        await _unset_default(session, actor=actor, keep=None)
    record = BusinessCalendarRecord(
        organization_id=actor.organization_id,
        name=fields["name"],
        public_holidays=fields.get("public_holidays"),
        is_default=is_default,
        **calendar,
    )
    session.add(record)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="business_calendar.created",
        entity_type="business_calendar",
        entity_id=record.id,
        after=_snapshot(record),
    )
    return record


async def get_calendar(
    session: AsyncSession, *, actor: Principal, calendar_id: uuid.UUID, for_update: bool = False
) -> BusinessCalendarRecord:
    return await get_visible(session, BusinessCalendarRecord, calendar_id, actor=actor, for_update=for_update)


_CALENDAR_SORTABLE = {"name": BusinessCalendarRecord.name, "updated_at": BusinessCalendarRecord.updated_at}
list_calendars = OrganizationList(BusinessCalendarRecord, _CALENDAR_SORTABLE, default_sort="name")


async def update_calendar(
    session: AsyncSession,
    *,
    actor: Principal,
    calendar_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
) -> BusinessCalendarRecord:
    """Calendar fields left out keep their value; the merged calendar is validated as a whole."""
    if changes.get("is_default"):
        await _lock_default(session, actor=actor)
    record = await get_calendar(session, actor=actor, calendar_id=calendar_id, for_update=True)
    public_holidays = changes.get("public_holidays", record.public_holidays)
    calendar = _validated(
        {name: changes.get(name, getattr(record, name)) for name in CALENDAR_FIELDS}, public_holidays
    )
    if "name" in changes and changes["name"] != record.name:
        await _check_name_free(session, actor=actor, name=changes["name"], except_id=record.id)
    check_version(record, expected_version)
    before = _snapshot(record)
    if "name" in changes:
        record.name = changes["name"]
    if changes.get("is_default") and not record.is_default:
        await _unset_default(session, actor=actor, keep=record.id)
    if "is_default" in changes:
        record.is_default = changes["is_default"]
    record.public_holidays = public_holidays
    for name, value in calendar.items():
        setattr(record, name, value)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="business_calendar.updated",
        entity_type="business_calendar",
        entity_id=record.id,
        before=before,
        after=_snapshot(record),
    )
    return record


async def delete_calendar(session: AsyncSession, *, actor: Principal, calendar_id: uuid.UUID) -> None:
    """The default calendar is in use by the SLA timers: make another the default first."""
    record = await get_calendar(session, actor=actor, calendar_id=calendar_id, for_update=True)
    if record.is_default:
        raise Conflict(
            "The default business calendar is in use; make another calendar the default first.",
            code="business_calendar.in_use",
        )
    before = _snapshot(record)
    await session.delete(record)
    await audit.record_audit(
        session,
        actor=actor,
        action="business_calendar.deleted",
        entity_type="business_calendar",
        entity_id=calendar_id,
        before=before,
    )


async def add_minutes(
    session: AsyncSession, *, actor: Principal, calendar_id: uuid.UUID, start: datetime, minutes: int
) -> datetime:
    """The instant `minutes` business minutes after `start` on the calendar, as SLA timers compute it."""
    record = await get_calendar(session, actor=actor, calendar_id=calendar_id)
    try:
        return add_business_minutes(calendar_of(record), start, minutes)
    except ValueError as exc:
        raise InvalidInput(
            "No due instant for these minutes on this calendar.",
            code="business_calendar.no_due_instant",
            errors=[FieldError("minutes", "calendar.horizon", str(exc))],
        ) from exc


async def default_calendar(session: AsyncSession, organization_id: uuid.UUID) -> BusinessCalendar | None:
    """The organization's default calendar, or None when it has none (the settings then decide)."""
    record = await session.scalar(
        select(BusinessCalendarRecord).where(
            BusinessCalendarRecord.organization_id == organization_id,
            BusinessCalendarRecord.is_default,  # as the partial index reads it
        )
    )
    return None if record is None else calendar_of(record)
