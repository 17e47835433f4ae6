"""Sign-in with a password, throttled per login name, and turning a bearer token into a principal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import NotAuthenticated, PermissionDenied, RateLimited
from app.domain.models import ApiKey, LoginFailure, User
from app.domain.permissions import Permission
from app.domain.principal import Principal
from app.services.security import (
    TokenClaims,
    api_key_secret_matches,
    issue_access_token,
    read_access_token,
    split_api_key,
    verify_password,
)

# Touching last_used_at on every call would turn every read into a write.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)
# Every authenticated request runs this: built once (its cache key is memoized on the object), and
# reading three columns instead of loading a User entity.
_TOKEN_USER = select(User.role, User.is_active, User.token_version).where(
    User.id == bindparam("user_id"), User.organization_id == bindparam("organization_id")
)


@dataclass(frozen=True)
class LoginPolicy:
    failure_limit: int
    window: timedelta


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int


class InvalidCredentials(NotAuthenticated):
    code = "auth.invalid_credentials"


def normalise_username(username: str) -> str:
    return username.strip().lower()


async def ensure_login_allowed(
    session: AsyncSession, *, username: str, policy: LoginPolicy, now: datetime
) -> None:
    since = now - policy.window
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(LoginFailure.failed_at)).where(
                LoginFailure.username == normalise_username(username), LoginFailure.failed_at > since
            )
        )
    ).one()
    if count >= policy.failure_limit:
        retry_after = max(1, int((oldest + policy.window - now).total_seconds()) + 1)
        raise RateLimited(
            "Too many failed sign-ins for this user; try again later.", retry_after_seconds=retry_after
        )


async def record_login_failure(session: AsyncSession, *, username: str, now: datetime) -> None:
    """Called in its own transaction: the failure must outlive the request's rollback."""
    session.add(LoginFailure(username=normalise_username(username)[:64], failed_at=now))
    await session.flush()


async def sign_in(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    policy: LoginPolicy,
    secret: str,
    ttl: timedelta,
    now: datetime,
) -> AccessToken:
    await ensure_login_allowed(session, username=username, policy=policy, now=now)
    user = await session.scalar(select(User).where(User.username == normalise_username(username)))
    password_ok = verify_password(password, user.password_hash if user else None)
    if user is None or not password_ok or not user.is_active:
        raise InvalidCredentials("Incorrect username or password.")
    # A plain UPDATE outside the version check: signing in is not an edit and must not move the ETag.
    await session.execute(
        update(User)
        .where(User.id == user.id)
        .values(last_login_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(LoginFailure).where(LoginFailure.username == normalise_username(username)))
    token = issue_access_token(
        TokenClaims(
            user_id=user.id,
            organization_id=user.organization_id,
            role=user.role,
            token_version=user.token_version,
        ),
        secret=secret,
        now=now,
        ttl=ttl,
    )
    return AccessToken(token=token, expires_in=int(ttl.total_seconds()))


async def principal_from_token(session: AsyncSession, token: str, *, secret: str, now: datetime) -> Principal:
    api_key_parts = split_api_key(token)
    if api_key_parts is not None:
        return await _principal_from_api_key(session, *api_key_parts, now=now)
    claims = read_access_token(token, secret=secret, now=now)
    user = (
        await session.execute(
            _TOKEN_USER, {"user_id": claims.user_id, "organization_id": claims.organization_id}
        )
    ).one_or_none()
    if user is None or not user.is_active:
        raise NotAuthenticated(
            "The user of this token no longer exists or is inactive.", code="auth.user_inactive"
        )
    if user.token_version != claims.token_version:
        raise NotAuthenticated(
            "This token was revoked (password changed or signed out everywhere); sign in again.",
            code="auth.token_revoked",
        )
    # The role is read from the database, so a role change applies to tokens already issued.
    return Principal.for_user(claims.organization_id, claims.user_id, user.role)


async def sign_out_everywhere(session: AsyncSession, *, actor: Principal) -> None:
    """Revokes every access token the signed-in user holds, this request's included."""
    if actor.user_id is None:
        raise PermissionDenied("An API key is not signed in; revoke the key instead.", code="auth.not_a_user")
    await revoke_tokens(session, user_id=actor.user_id)


async def revoke_tokens(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    # A plain UPDATE outside the version check: revoking tokens is not an edit of the user record.
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(token_version=User.token_version + 1)
        .execution_options(synchronize_session=False)
    )


async def _principal_from_api_key(
    session: AsyncSession, prefix: str, secret: str, *, now: datetime
) -> Principal:
    key = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or not api_key_secret_matches(secret, key.secret_hash):
        raise NotAuthenticated("The API key is invalid.", code="auth.api_key_invalid")
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        raise NotAuthenticated("The API key is revoked or expired.", code="auth.api_key_revoked")
    if key.last_used_at is None or now - key.last_used_at > API_KEY_TOUCH_INTERVAL:
        # A plain UPDATE, outside the ORM's version check: usage stamps must not conflict with edits.
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == key.id)
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    scopes = frozenset(Permission(s) for s in key.scopes if s in Permission._value2member_map_)
    return Principal.for_api_key(key.organization_id, key.id, scopes)
