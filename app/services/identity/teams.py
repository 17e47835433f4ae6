"""Teams: a supervisor, members and a region; the unit supervisors see and assignment targets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from app.domain.identity.principal import Principal
from app.domain.models import Team, TeamMember, User
from app.domain.notifications.events import TeamMemberAdded
from app.domain.platform.errors import FieldError, InvalidInput
from app.services.platform import audit, outbox
from app.services.platform.common import (
    OrganizationList,
    UniqueName,
    check_version,
    get_visible,
    refuse_taken_id,
)
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page

AUDITED_FIELDS = ("name", "region", "supervisor_id")
SORTABLE = {"created_at": Team.created_at, "updated_at": Team.updated_at, "name": Team.name}

_NAME = UniqueName(Team, "A team")


@dataclass(frozen=True)
class TeamView:
    team: Team
    member_ids: list[uuid.UUID]


@dataclass(frozen=True)
class NewTeam:
    name: str
    region: str | None = None
    supervisor_id: uuid.UUID | None = None
    member_ids: tuple[uuid.UUID, ...] = ()
    id: uuid.UUID | None = None


async def _require_users(
    session: AsyncSession, actor: Principal, user_ids: set[uuid.UUID], field: str
) -> None:
    if not user_ids:
        return
    found = set(
        (
            await session.scalars(
                select(User.id).where(User.organization_id == actor.organization_id, User.id.in_(user_ids))
            )
        ).all()
    )
    missing = user_ids - found
    if missing:
        raise InvalidInput(
            "Some users do not exist in this organization.",
            code="team.unknown_user",
            errors=[
                FieldError(field, "user.not_found", str(user_id)) for user_id in sorted(missing, key=str)
            ],
        )


async def member_ids_of(session: AsyncSession, team: Team) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(TeamMember.user_id)
        .where(TeamMember.organization_id == team.organization_id, TeamMember.team_id == team.id)
        .order_by(TeamMember.user_id)
    )
    return list(rows.all())


async def _set_members(
    session: AsyncSession, actor: Principal, team: Team, member_ids: set[uuid.UUID]
) -> set[uuid.UUID]:
    """Replace the member list; returns who was added, so they can be told."""
    current = set(await member_ids_of(session, team))
    added, removed = member_ids - current, current - member_ids
    if removed:
        await session.execute(
            delete(TeamMember).where(
                TeamMember.organization_id == actor.organization_id,
                TeamMember.team_id == team.id,
                TeamMember.user_id.in_(removed),
            )
        )
    for user_id in added:
        session.add(TeamMember(organization_id=actor.organization_id, team_id=team.id, user_id=user_id))
    await session.flush()
    if added:
        names = await session.scalars(select(User.display_name).where(User.id.in_(added)).order_by(User.id))
        members = tuple(sorted(added, key=str))
        outbox.record(
            session,
            organization_id=actor.organization_id,
            event=TeamMemberAdded(
                team_id=team.id,
                team_name=team.name,
                user_ids=members,
                member_names=", ".join(names.all()),
                notify_user_ids=members,
            ),
        )
    return added


async def create_team(session: AsyncSession, *, actor: Principal, data: NewTeam) -> TeamView:
    await _NAME.ensure_free(session, actor, data.name)
    await _require_users(session, actor, set(data.member_ids), "member_ids")
    if data.supervisor_id is not None:
        await _require_users(session, actor, {data.supervisor_id}, "supervisor_id")
    await refuse_taken_id(session, Team, data.id, actor=actor, entity="team")
    team = Team(
        id=data.id or uuid.uuid4(),
        organization_id=actor.organization_id,
        name=data.name,
        region=data.region,
        supervisor_id=data.supervisor_id,
    )
    session.add(team)
    await session.flush()
    await _set_members(session, actor, team, set(data.member_ids))
    members = await member_ids_of(session, team)
    await audit.record_audit(
        session,
        actor=actor,
        action="team.created",
        entity_type="team",
        entity_id=team.id,
        after={**audit.snapshot(team, AUDITED_FIELDS), "member_ids": [str(m) for m in members]},
    )
    return TeamView(team, members)


async def get_team(session: AsyncSession, *, actor: Principal, team_id: uuid.UUID) -> TeamView:
    team = await get_visible(session, Team, team_id, actor=actor)
    return TeamView(team, await member_ids_of(session, team))


_list_teams = OrganizationList(Team, SORTABLE, default_sort="created_at")


async def list_teams(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    sort: str = "created_at",
    options: ListOptions = NO_OPTIONS,
) -> Page[TeamView]:
    page: Page[Any] = await _list_teams(
        session, actor=actor, limit=limit, cursor=cursor, options=options, sort=sort
    )
    members: dict[uuid.UUID, list[uuid.UUID]] = {team.id: [] for team in page.items}
    if members:
        rows = await session.execute(
            select(TeamMember.team_id, TeamMember.user_id)
            .where(TeamMember.organization_id == actor.organization_id, TeamMember.team_id.in_(members))
            .order_by(TeamMember.user_id)
        )
        for team_id, user_id in rows:
            members[team_id].append(user_id)
    return replace(page, items=[TeamView(team, members[team.id]) for team in page.items])


async def update_team(
    session: AsyncSession,
    *,
    actor: Principal,
    team_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
) -> TeamView:
    team = await get_visible(session, Team, team_id, actor=actor, for_update=True)
    if "name" in changes and changes["name"] != team.name:
        await _NAME.ensure_free(session, actor, changes["name"], exclude=team.id)
    if changes.get("supervisor_id") is not None:
        await _require_users(session, actor, {changes["supervisor_id"]}, "supervisor_id")
    member_ids = changes.pop("member_ids", None)
    if member_ids is not None:
        await _require_users(session, actor, set(member_ids), "member_ids")
    check_version(team, expected_version)
    before = {
        **audit.snapshot(team, AUDITED_FIELDS),
        "member_ids": [str(m) for m in await member_ids_of(session, team)],
    }
    for name, value in changes.items():
        setattr(team, name, value)
    if member_ids is not None:
        await _set_members(session, actor, team, set(member_ids))
        # Membership lives in its own table; bump the team so its version and ETag move too.
        flag_modified(team, "updated_at")
    await session.flush()
    members = await member_ids_of(session, team)
    after = {**audit.snapshot(team, AUDITED_FIELDS), "member_ids": [str(m) for m in members]}
    old, new = audit.changed_fields(before, after)
    if new:
        await audit.record_audit(
            session,
            actor=actor,
            action="team.updated",
            entity_type="team",
            entity_id=team.id,
            before=old,
            after=new,
        )
    return TeamView(team, members)


async def delete_team(
    session: AsyncSession, *, actor: Principal, team_id: uuid.UUID, expected_version: int | None
) -> None:
    team = await get_visible(session, Team, team_id, actor=actor, for_update=True)
    check_version(team, expected_version)
    before = {
        **audit.snapshot(team, AUDITED_FIELDS),
        "member_ids": [str(m) for m in await member_ids_of(session, team)],
    }
    await session.delete(team)
    await session.flush()
    await audit.record_audit(
        session, actor=actor, action="team.deleted", entity_type="team", entity_id=team_id, before=before
    )
