"""Tenants: creating one with its first admin, and reading or changing its settings."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import Organization, Team, User
from app.domain.organization.organization_settings import effective_settings, patched_settings
from app.domain.platform.errors import FieldError, InvalidInput
from app.services.identity.users import NewUser, create_user
from app.services.pipelines import pipelines
from app.services.platform import audit
from app.services.platform.common import check_version

AUDITED_FIELDS = ("name", "timezone", "currency", "locale", "settings")


@dataclass(frozen=True)
class OrganizationWithAdmin:
    organization: Organization
    admin: User


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:48] or "org"


def validate_timezone(timezone: str) -> None:
    if timezone not in available_timezones():
        raise InvalidInput(
            f"Unknown time zone {timezone!r}.",
            code="organization.timezone_unknown",
            errors=[FieldError("timezone", "timezone.unknown", "use an IANA name such as Asia/Shanghai")],
        )


async def create_organization(
    session: AsyncSession,
    *,
    name: str,
    admin_username: str,
    admin_password: str,
    timezone: str,
    admin_display_name: str | None = None,
) -> OrganizationWithAdmin:
    validate_timezone(timezone)
    slug = slugify(name)
    if await session.scalar(select(exists().where(Organization.slug == slug))):
        slug = f"{slug}-{uuid.uuid4().hex[:6]}"
    organization = Organization(name=name, slug=slug, timezone=timezone)
    session.add(organization)
    await session.flush()
    system = Principal.system(organization.id)
    admin = await create_user(
        session,
        actor=system,
        data=NewUser(
            username=admin_username,
            display_name=admin_display_name or admin_username,
            password=admin_password,
            role=Role.admin,
        ),
    )
    await pipelines.seed_templates(session, organization_id=organization.id)
    await audit.record_audit(
        session,
        actor=system,
        action="organization.created",
        entity_type="organization",
        entity_id=organization.id,
        after=audit.snapshot(organization, AUDITED_FIELDS),
    )
    return OrganizationWithAdmin(organization, admin)


async def get_organization(session: AsyncSession, *, actor: Principal) -> Organization:
    return await session.get_one(Organization, actor.organization_id)


async def _check_setting_references(
    session: AsyncSession, actor: Principal, settings: dict[str, Any]
) -> None:
    """Ids in settings name records of this organization; another tenant's id is refused."""
    team_id = effective_settings(settings).assignment.fallback_team_id
    if team_id is None:
        return
    found = await session.scalar(
        select(Team.id).where(Team.id == team_id, Team.organization_id == actor.organization_id)
    )
    if found is None:
        raise InvalidInput(
            "The fallback team is not a team of this organization.",
            code="organization.settings_invalid",
            errors=[FieldError("settings.assignment.fallback_team_id", "not_found", "no such team")],
        )


async def update_organization(
    session: AsyncSession, *, actor: Principal, changes: dict[str, Any], expected_version: int | None
) -> Organization:
    organization = await session.get_one(Organization, actor.organization_id, with_for_update=True)
    if "timezone" in changes:
        validate_timezone(changes["timezone"])
    if "settings" in changes:
        # A merge patch: a client changes the keys it names and keeps the rest (setting the RAG
        # thresholds once erased the lead-pool limits); a null returns a key to its default.
        changes["settings"] = patched_settings(organization.settings, changes["settings"])
        await _check_setting_references(session, actor, changes["settings"])
    check_version(organization, expected_version)
    await audit.apply_edit(
        session, actor, organization, changes, fields=AUDITED_FIELDS, entity_type="organization"
    )
    return organization
