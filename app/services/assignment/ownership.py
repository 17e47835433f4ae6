"""Who may own a record, and who may hand it to whom."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import Team, TeamMember, User
from app.domain.platform.errors import FieldError, InvalidInput, PermissionDenied
from app.services.platform.visibility import visible_to

# Ids per IN list: below the 32,767 bind parameters PostgreSQL takes.
_IDS_PER_QUERY = 2000


async def resolve_owner(
    session: AsyncSession,
    actor: Principal,
    requested: uuid.UUID | None,
    *,
    default: uuid.UUID | None,
    field: str = "owner_id",
) -> uuid.UUID | None:
    """The owner a new or changed record gets; `field` is the request's name for it.

    Reps own what they create and cannot give records away; supervisors assign within their
    teams; directors, admins and API keys assign to any active user of the organization.
    """
    if requested is None:
        return default
    if actor.role is Role.rep and requested != actor.user_id:
        raise PermissionDenied("A rep can only own records themselves.", code="owner.not_allowed")
    owner = await session.scalar(
        select(User).where(
            User.id == requested,
            User.organization_id == actor.organization_id,
            visible_to(actor, User.id),
        )
    )
    if owner is None or not owner.is_active:
        raise InvalidInput(
            "The owner must be an active user you may assign to.",
            code="owner.invalid",
            errors=[FieldError(field, "owner.invalid", "unknown, inactive or outside your teams")],
        )
    return owner.id


async def supervisors_of(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> list[uuid.UUID]:
    return (await supervisors_of_users(session, {user_id}, organization_id=organization_id)).get(user_id, [])


async def supervisors_of_users(
    session: AsyncSession, user_ids: Collection[uuid.UUID], *, organization_id: uuid.UUID | None = None
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each user's supervisors (the supervisors of the teams they are in, not themselves), for
    many users with one query per 2,000 (a sweep's batch spans organizations: no filter then)."""
    found: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    ordered = sorted(user_ids, key=str)
    for start in range(0, len(ordered), _IDS_PER_QUERY):
        statement = (
            select(TeamMember.user_id, Team.supervisor_id)
            .join(
                Team, (Team.id == TeamMember.team_id) & (Team.organization_id == TeamMember.organization_id)
            )
            .where(
                TeamMember.user_id.in_(ordered[start : start + _IDS_PER_QUERY]),
                Team.supervisor_id.is_not(None),
                Team.supervisor_id != TeamMember.user_id,
            )
        )
        if organization_id is not None:
            statement = statement.where(Team.organization_id == organization_id)
        for user_id, supervisor_id in (await session.execute(statement)).all():
            if supervisor_id is not None:
                found[user_id].add(supervisor_id)
    return {user_id: sorted(ids, key=str) for user_id, ids in found.items()}


# The owner filter's word for the caller: `?owner_id=me` on the H5 app's "my ..." screens.
ME = "me"


def owner_filter(
    actor: Principal, values: Collection[uuid.UUID | str] | None, *, field: str = "owner_id"
) -> list[uuid.UUID] | None:
    """A list's owner filter (`field`, e.g. owner_id) with `me` read as the caller; an API key is
    nobody's `me`."""
    if values is None:
        return None
    owners = []
    for value in values:
        if value != ME:
            owners.append(uuid.UUID(str(value)))
        elif actor.user_id is None:
            raise InvalidInput(
                "An API key is not a user: name the owner by id.",
                code="request.owner_me_without_user",
                errors=[FieldError(field, "me.no_user", "`me` needs a signed-in user")],
            )
        else:
            owners.append(actor.user_id)
    return owners
