"""Demo tenant: a building-materials distributor with a director, two regional teams and eight reps."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import Organization, User
from app.domain.sla.sla import SlaKind
from app.services.identity.teams import NewTeam, create_team
from app.services.identity.users import NewUser, create_user
from app.services.organizations import create_organization
from app.services.sla import sla

DEMO_SLUG = "demo-building-materials"
DEMO_PASSWORD = "demo-pass-2026"
_TEAMS = (("华东销售一组", "华东", "demo.sup.east", "东"), ("华南销售一组", "华南", "demo.sup.south", "南"))


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: Role


async def seed_demo(session: AsyncSession, *, timezone: str) -> list[DemoLogin]:
    """Creates the demo tenant once; running it again changes nothing and lists the logins."""
    existing = await session.scalar(select(Organization).where(Organization.slug == DEMO_SLUG))
    if existing is None:
        await _create(session, timezone=timezone)
        existing = await session.scalar(select(Organization).where(Organization.slug == DEMO_SLUG))
    assert existing is not None
    users = (
        await session.scalars(select(User).where(User.organization_id == existing.id).order_by(User.username))
    ).all()
    return [DemoLogin(u.username, u.role) for u in users]


async def _create(session: AsyncSession, *, timezone: str) -> None:
    created = await create_organization(
        session,
        name="华东建材贸易有限公司 (demo)",
        admin_username="demo.admin",
        admin_password=DEMO_PASSWORD,
        admin_display_name="系统管理员",
        timezone=timezone,
    )
    created.organization.slug = DEMO_SLUG
    actor = Principal.for_user(created.organization.id, created.admin.id, Role.admin)

    async def add(username: str, name: str, role: Role) -> User:
        return await create_user(
            session,
            actor=actor,
            data=NewUser(username=username, display_name=name, password=DEMO_PASSWORD, role=role),
        )

    await add("demo.director", "陈总监", Role.director)
    await add("demo.marketing", "市场部 林", Role.marketing)
    rep_number = 0
    for team_name, region, supervisor_username, short in _TEAMS:
        supervisor = await add(supervisor_username, f"{short}区主管", Role.supervisor)
        reps = []
        for _ in range(4):
            rep_number += 1
            reps.append(await add(f"demo.rep{rep_number}", f"{short}区销售{rep_number}", Role.rep))
        await create_team(
            session,
            actor=actor,
            data=NewTeam(
                name=team_name,
                region=region,
                supervisor_id=supervisor.id,
                member_ids=tuple(rep.id for rep in reps),
            ),
        )
    # The promise of the product on day one: a new lead is answered within 30 working minutes, or
    # the supervisor hears of it; the director after two more hours.
    await sla.create_policy(
        session,
        actor=actor,
        name="新线索30分钟首响",
        kind=SlaKind.first_response,
        target_minutes=30,
        rules={"steps": [{"after_minutes": 120, "notify": ["director"]}]},
    )
