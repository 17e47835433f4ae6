"""Users of an organization: create, read, update; visible by role."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import Role, may_deactivate
from app.domain.identity.principal import Principal
from app.domain.models import Organization, User
from app.domain.notifications.events import UserCreated
from app.domain.platform.errors import Conflict, FieldError, InvalidInput, PermissionDenied
from app.services.identity.auth import normalise_username
from app.services.identity.security import hash_password
from app.services.platform import audit, outbox
from app.services.platform.common import check_version, get_visible, like_pattern, matches, refuse_taken_id
from app.services.platform.list_filters import in_teams
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page, SortOrder, paginate
from app.services.platform.visibility import visible_to

AUDITED_FIELDS = (
    "username",
    "display_name",
    "email",
    "phone",
    "role",
    "is_active",
    "is_available",
    "unavailable_until",
    "wecom_userid",
)
SORTABLE = {
    "created_at": User.created_at,
    "updated_at": User.updated_at,
    "username": User.username,
    "display_name": User.display_name,
}


@dataclass(frozen=True)
class NewUser:
    username: str
    display_name: str
    password: str
    role: Role
    email: str | None = None
    phone: str | None = None
    wecom_userid: str | None = None
    id: uuid.UUID | None = None


async def create_user(session: AsyncSession, *, actor: Principal, data: NewUser) -> User:
    username = normalise_username(data.username)
    taken = await session.scalar(select(exists().where(User.username == username)))
    if taken:
        raise Conflict(
            f"The username {username!r} is taken.",
            code="user.username_taken",
            errors=[FieldError("username", "unique", "already in use")],
        )
    await refuse_taken_id(session, User, data.id, actor=actor, entity="user")
    await _refuse_taken_wecom_userid(session, actor=actor, wecom_userid=data.wecom_userid, user_id=None)
    user = User(
        id=data.id or uuid.uuid4(),
        organization_id=actor.organization_id,
        username=username,
        display_name=data.display_name,
        email=data.email,
        phone=data.phone,
        wecom_userid=data.wecom_userid,
        role=data.role,
        password_hash=hash_password(data.password),
    )
    session.add(user)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="user.created",
        entity_type="user",
        entity_id=user.id,
        after=audit.snapshot(user, AUDITED_FIELDS),
    )
    organization = await session.get_one(Organization, actor.organization_id)
    outbox.record(
        session,
        organization_id=actor.organization_id,
        event=UserCreated(
            user_id=user.id,
            username=user.username,
            role=user.role,
            organization_name=organization.name,
            notify_user_ids=(user.id,),
        ),
    )
    return user


async def _refuse_taken_wecom_userid(
    session: AsyncSession, *, actor: Principal, wecom_userid: str | None, user_id: uuid.UUID | None
) -> None:
    """WeCom sign-in finds the user by it, so it names one user of the organization (the unique
    constraint settles a race)."""
    if not wecom_userid:
        return
    statement = select(User.username).where(
        User.organization_id == actor.organization_id, User.wecom_userid == wecom_userid
    )
    if user_id is not None:
        statement = statement.where(User.id != user_id)
    holder = await session.scalar(statement)
    if holder is not None:
        raise Conflict(
            f"The WeCom account {wecom_userid!r} is already the user {holder!r}'s.",
            code="user.wecom_userid_taken",
            errors=[FieldError("wecom_userid", "unique", "already another user's")],
        )


async def get_user(session: AsyncSession, *, actor: Principal, user_id: uuid.UUID) -> User:
    return await get_visible(session, User, user_id, actor=actor, visible=visible_to(actor, User.id))


async def list_users(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    sort: str = "created_at",
    role: Sequence[Role] | None = None,
    is_active: bool | None = None,
    team_id: Sequence[uuid.UUID] | None = None,
    q: str | None = None,
    ids: Sequence[uuid.UUID] | None = None,
    options: ListOptions = NO_OPTIONS,
) -> Page[User]:
    order = SortOrder.parse(sort, SORTABLE)
    statement = select(User).where(User.organization_id == actor.organization_id, visible_to(actor, User.id))
    if ids is not None:
        statement = statement.where(matches(User.id, ids))
    if role is not None:
        statement = statement.where(matches(User.role, role))
    if is_active is not None:
        statement = statement.where(User.is_active == is_active)
    if team_id is not None:
        statement = statement.where(in_teams(actor, User.id, team_id))
    if q:
        pattern = like_pattern(q.lower())
        statement = statement.where(
            User.username.like(pattern, escape="\\") | User.display_name.ilike(pattern, escape="\\")
        )
    return await paginate(
        session,
        statement,
        sort_column=SORTABLE[order.name],
        id_column=User.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )


async def update_user(
    session: AsyncSession,
    *,
    actor: Principal,
    user_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
) -> User:
    if changes.get("is_active") is False or "role" in changes:
        await lock_active_admins(session, actor.organization_id)
    user = await get_visible(session, User, user_id, actor=actor, for_update=True)
    check_version(user, expected_version)
    if changes.get("wecom_userid"):
        await _refuse_taken_wecom_userid(
            session, actor=actor, wecom_userid=changes["wecom_userid"], user_id=user.id
        )
    deactivating = changes.get("is_active") is False and user.is_active
    if deactivating or changes.get("role", user.role) != user.role:
        await guard_removal(session, actor=actor, user=user)
    before = audit.snapshot(user, AUDITED_FIELDS)
    password = changes.pop("password", None)
    for name, value in changes.items():
        setattr(user, name, value)
    if password is not None:
        user.password_hash = hash_password(password)
    if password is not None or deactivating:
        # Tokens issued before stop working: a changed password locks out whoever learnt the old one.
        user.token_version += 1
    await session.flush()
    old, new = audit.changed_fields(before, audit.snapshot(user, AUDITED_FIELDS))
    if password is not None:
        new["password"] = "changed"
    if new:
        await audit.record_audit(
            session,
            actor=actor,
            action="user.updated",
            entity_type="user",
            entity_id=user.id,
            before=old,
            after=new,
        )
    return user


async def guard_removal(session: AsyncSession, *, actor: Principal, user: User) -> None:
    """Refuses to deactivate `user` (or change their role) unless the actor outranks them, and never
    leaves the organization without an active admin. Every path that deactivates calls this."""
    if user.id == actor.user_id:
        raise InvalidInput(
            "You cannot deactivate yourself or change your own role.", code="user.self_lockout"
        )
    if not may_deactivate(actor.role, Role(user.role)):
        raise PermissionDenied(
            f"A {actor.role or 'key'} cannot deactivate or change the role of a {user.role}.",
            code="user.outranked",
        )
    removing_an_admin = user.role == Role.admin and user.is_active
    if removing_an_admin and await lock_active_admins(session, actor.organization_id) <= {user.id}:
        raise Conflict(
            "The organization's last active admin cannot be deactivated or lose the admin role.",
            code="user.last_admin",
        )


async def lock_active_admins(session: AsyncSession, organization_id: uuid.UUID) -> set[uuid.UUID]:
    """Locks the organization's active admins, in id order, so that two admins removing each other
    at once cannot both see the other as the one who remains. A path that deactivates someone or
    changes a role takes these locks before the row it changes: taking them after (while holding
    that row) is how two such requests deadlock, each holding the row the other waits for."""
    admins = await session.scalars(
        select(User.id)
        .where(User.organization_id == organization_id, User.role == Role.admin, User.is_active)
        .order_by(User.id)
        .with_for_update()
    )
    return set(admins.all())


async def get_current_user(session: AsyncSession, *, actor: Principal) -> User:
    if actor.user_id is None:
        raise PermissionDenied("An API key is not a user.", code="user.api_key_has_no_profile")
    return await session.get_one(User, actor.user_id)
