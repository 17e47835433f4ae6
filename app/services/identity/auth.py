"""Sign-in with a password (throttled per login name and client address), and bearer tokens as principals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.models import ApiKey, LoginThrottle, User
from app.domain.platform.errors import NotAuthenticated, PermissionDenied
from app.services.identity.refresh_tokens import SignedIn, TokenPolicy, issue_tokens
from app.services.identity.security import (
    api_key_secret_matches,
    read_access_token,
    split_api_key,
    verify_password,
)
from app.services.platform import rate_limits

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
    client_failure_limit: int
    window: timedelta


class InvalidCredentials(NotAuthenticated):
    code = "auth.invalid_credentials"


def normalise_username(username: str) -> str:
    return username.strip().lower()


def _throttle_keys(username: str, client: str) -> tuple[str, str]:
    return f"user:{normalise_username(username)[:64]}|client:{client[:64]}", f"client:{client[:64]}"


async def count_sign_in_attempt(
    session: AsyncSession, *, username: str, client: str, policy: LoginPolicy, now: datetime
) -> None:
    """Counted as a failure before the password is checked, in a transaction of its own that the
    caller commits first: concurrent guesses cannot all pass the check. A successful sign-in takes
    it back (`sign_in`); a refused attempt raises, and its rollback leaves the counts as they were.
    The right password from a client that has not failed is never refused: no count is per name
    alone."""
    pair_key, client_key = _throttle_keys(username, client)
    for key, limit, whose in (
        (pair_key, policy.failure_limit, "for this user"),
        (client_key, policy.client_failure_limit, "from this address"),
    ):
        await rate_limits.take_one(
            session,
            key=key,
            limit=limit,
            window=policy.window,
            now=now,
            detail=f"Too many failed sign-ins {whose}; try again later.",
        )


async def sign_in(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    client: str,
    policy: TokenPolicy,
    now: datetime,
) -> SignedIn:
    """Checks the password; the attempt was counted by `count_sign_in_attempt` beforehand."""
    user = await session.scalar(select(User).where(User.username == normalise_username(username)))
    password_ok = verify_password(password, user.password_hash if user else None)
    if user is None or not password_ok or not user.is_active:
        raise InvalidCredentials("Incorrect username or password.")
    await forgive_sign_in_attempt(session, username=username, client=client)
    return await signed_in(session, user, policy=policy, now=now)


async def forgive_sign_in_attempt(session: AsyncSession, *, username: str, client: str) -> None:
    """This client's failures for this name are forgiven, and the attempt is no failure after all."""
    pair_key, client_key = _throttle_keys(username, client)
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key == pair_key))
    await session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == client_key, LoginThrottle.failures > 0)
        .values(failures=LoginThrottle.failures - 1)
    )


async def signed_in(session: AsyncSession, user: User, *, policy: TokenPolicy, now: datetime) -> SignedIn:
    """The tokens of a user who proved who they are (password or WeCom)."""
    # A plain UPDATE outside the version check: signing in is not an edit and must not move the ETag.
    await session.execute(
        update(User)
        .where(User.id == user.id)
        .values(last_login_at=now)
        .execution_options(synchronize_session=False)
    )
    return await issue_tokens(session, user, policy=policy, now=now)


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
    # A plain UPDATE outside the version check: revoking tokens is not an edit of the user record.
    await session.execute(
        update(User)
        .where(User.id == actor.user_id)
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
