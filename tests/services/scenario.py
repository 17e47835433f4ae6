"""Service-level scenario builders: an organization with a supervisor's team of reps, and records
made through the use cases (app/services) the way the API or a job would call them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadSource
from app.domain.models import Lead, User
from app.services.identity import teams
from app.services.identity.users import NewUser, create_user
from app.services.leads import leads
from app.services.organizations import create_organization
from tests.conftest import PASSWORD
from tests.factories import unique_number, unique_phone


@dataclass(frozen=True)
class Organization:
    """A tenant in Shanghai's time zone: its admin, one supervisor and the reps of their team."""

    id: uuid.UUID
    admin: User
    supervisor: User
    reps: tuple[User, ...]

    @property
    def system(self) -> Principal:
        """The actor of jobs and sweeps."""
        return Principal.system(self.id)

    def actor(self, user: User) -> Principal:
        """The user, signed in."""
        return Principal.for_user(self.id, user.id, user.role)


async def add_user(session: AsyncSession, organization_id: uuid.UUID, role: Role, name: str) -> User:
    username = f"{role.value}-{unique_number()}"
    data = NewUser(username=username, display_name=name, password=PASSWORD, role=role)
    return await create_user(session, actor=Principal.system(organization_id), data=data)


async def new_organization(session: AsyncSession, *, reps: int = 2) -> Organization:
    created = await create_organization(
        session,
        name=f"申华建材{unique_number()}",
        admin_username=f"admin-{unique_number()}",
        admin_password=PASSWORD,
        timezone="Asia/Shanghai",
    )
    organization_id = created.organization.id
    supervisor = await add_user(session, organization_id, Role.supervisor, "李主管")
    members = [await add_user(session, organization_id, Role.rep, f"销售{n + 1}") for n in range(reps)]
    await teams.create_team(
        session,
        actor=Principal.system(organization_id),
        data=teams.NewTeam(
            name="华东一组", supervisor_id=supervisor.id, member_ids=tuple(m.id for m in members)
        ),
    )
    return Organization(organization_id, created.admin, supervisor, tuple(members))


async def add_lead(session: AsyncSession, actor: Principal, now: datetime, **fields: Any) -> Lead:
    """A new lead entered by `actor` (a rep's own lead is theirs), with a phone of its own."""
    values: dict[str, Any] = {
        "name": "张伟",
        "source": LeadSource.exhibition,
        "phone": unique_phone(),
        **fields,
    }
    return (await leads.create_lead(session, actor=actor, data=leads.NewLead(**values), now=now)).lead
