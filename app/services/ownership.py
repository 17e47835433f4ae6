"""Who may own a record, and who may hand it to whom."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import FieldError, InvalidInput, PermissionDenied
from app.domain.models import Team, TeamMember, User
from app.domain.permissions import Role
from app.domain.principal import Principal
from app.services.visibility import visible_to


async def resolve_owner(
    session: AsyncSession, actor: Principal, requested: uuid.UUID | None, *, default: uuid.UUID | None
) -> uuid.UUID | None:
    """The owner a new or changed record gets.

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
            errors=[FieldError("owner_id", "owner.invalid", "unknown, inactive or outside your teams")],
        )
    return owner.id


async def supervisors_of(
    session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID
) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(Team.supervisor_id)
        .join(
            TeamMember, (TeamMember.team_id == Team.id) & (TeamMember.organization_id == Team.organization_id)
        )
        .where(
            Team.organization_id == organization_id,
            TeamMember.user_id == user_id,
            Team.supervisor_id.is_not(None),
            Team.supervisor_id != user_id,
        )
    )
    return sorted({s for s in rows if s is not None}, key=str)
