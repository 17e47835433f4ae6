"""The conditions list filters share, written once: a period whose bounds may be days, the records
of a team's members, tags, and text that may be a phone number typed any way."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, cast, exists, false, func, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import Organization, TeamMember
from app.domain.platform.periods import DayOrInstant, period_end, period_start
from app.domain.platform.search import phone_digits
from app.services.platform.common import like_pattern


@dataclass(frozen=True)
class Period:
    """Half-open, as the KPIs' periods: `start` included, `end` the first instant not included."""

    start: datetime | None = None
    end: datetime | None = None


ANY_TIME = Period()


async def period_of(
    session: AsyncSession, actor: Principal, start: DayOrInstant | None, end: DayOrInstant | None
) -> Period:
    """The instants a filter's bounds mean; a day is read in the organization's time zone."""
    zone = ZoneInfo("UTC")
    if any(bound is not None and not isinstance(bound, datetime) for bound in (start, end)):
        timezone = await session.scalar(
            select(Organization.timezone).where(Organization.id == actor.organization_id)
        )
        zone = ZoneInfo(timezone or "UTC")
    return Period(
        None if start is None else period_start(start, zone), None if end is None else period_end(end, zone)
    )


def within(column: Any, period: Period) -> list[ColumnElement[bool]]:
    conditions = []
    if period.start is not None:
        conditions.append(column >= period.start)
    if period.end is not None:
        conditions.append(column < period.end)
    return conditions


def in_teams(actor: Principal, user_column: Any, team_ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """Rows whose user (a record's owner, a task's assignee, a user) is a member of one of the teams.
    It narrows the caller's visibility, never widens it: a rep asking for his team still sees only
    his own records."""
    members = select(TeamMember.user_id).where(
        TeamMember.organization_id == actor.organization_id, TeamMember.team_id.in_(list(team_ids))
    )
    return user_column.in_(members)  # type: ignore[no-any-return]


def tagged(session: AsyncSession, column: Any, tags: Sequence[str]) -> ColumnElement[bool]:
    """Records carrying any of the tags (a JSON array of strings)."""
    wanted = list(dict.fromkeys(tags))
    if session.get_bind().dialect.name == "postgresql":
        # Containment, which a GIN index on the column answers.
        return or_(*(column.op("@>")(cast(literal(json.dumps([tag])), JSONB)) for tag in wanted))
    element = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(element).where(element.c.value.in_(wanted)))


def text_matches(q: str, texts: Sequence[Any], phones: Sequence[Any] = ()) -> ColumnElement[bool]:
    """Part of any of the texts, or, when `q` reads as a phone number typed any way (`138 0013 8000`,
    `138-0013-8000`, `+86 138...`), part of any of the stored (E.164) phone numbers."""
    pattern = like_pattern(q)
    found = [column.ilike(pattern, escape="\\") for column in texts]
    digits = phone_digits(q)
    if digits is not None:
        found.extend(column.like(like_pattern(digits), escape="\\") for column in phones)
    return or_(false(), *found)
