"""Row visibility, written once: rep = own, supervisor = own teams, director/admin = organization."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import Team, TeamMember


def supervised_user_ids(principal: Principal) -> Any:
    """Subquery of the users in the teams this principal supervises."""
    supervised_teams = select(Team.id).where(
        Team.organization_id == principal.organization_id, Team.supervisor_id == principal.user_id
    )
    return select(TeamMember.user_id).where(
        TeamMember.organization_id == principal.organization_id, TeamMember.team_id.in_(supervised_teams)
    )


def visible_to(principal: Principal, owner_column: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
    """Filter on a record's owner column; callers still scope by organization_id."""
    if principal.sees_whole_organization:
        return true()
    if principal.role is Role.supervisor:
        return or_(owner_column == principal.user_id, owner_column.in_(supervised_user_ids(principal)))
    return owner_column == principal.user_id
