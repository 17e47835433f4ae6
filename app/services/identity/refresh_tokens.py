"""Access and refresh tokens issued at sign-in, and POST /auth/refresh: a refresh token is used once
and answers the next pair; a used one presented again revokes its whole family (it was copied)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import RefreshToken, User
from app.domain.platform.errors import NotAuthenticated
from app.services.identity.security import TokenClaims, issue_access_token

# Two refreshes with the same token this close together are one client racing itself (two tabs, a
# retried request): the loser is refused, but the family is not revoked for it.
REUSE_GRACE = timedelta(seconds=10)
_PREFIX = "rt_"


@dataclass(frozen=True)
class TokenPolicy:
    secret: str
    access_ttl: timedelta
    refresh_ttl: timedelta


@dataclass(frozen=True)
class SignedIn:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def issue_tokens(
    session: AsyncSession,
    user: User,
    *,
    policy: TokenPolicy,
    now: datetime,
    family_id: uuid.UUID | None = None,
) -> SignedIn:
    """A new access token and a refresh token of `family_id` (a new family at sign-in)."""
    access = issue_access_token(
        TokenClaims(
            user_id=user.id,
            organization_id=user.organization_id,
            role=user.role,
            token_version=user.token_version,
        ),
        secret=policy.secret,
        now=now,
        ttl=policy.access_ttl,
    )
    refresh = _PREFIX + secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            organization_id=user.organization_id,
            user_id=user.id,
            family_id=family_id or uuid.uuid4(),
            token_hash=_hash(refresh),
            token_version=user.token_version,
            expires_at=now + policy.refresh_ttl,
        )
    )
    await session.flush()
    return SignedIn(
        access_token=access,
        expires_in=int(policy.access_ttl.total_seconds()),
        refresh_token=refresh,
        refresh_expires_in=int(policy.refresh_ttl.total_seconds()),
    )


async def revoke_reused_family(session: AsyncSession, *, token: str, now: datetime) -> None:
    """When `token` was used (or revoked) before the grace, every token of its family is revoked.
    Run in a transaction of its own that commits although the refresh is then refused."""
    reused_family = select(RefreshToken.family_id).where(
        RefreshToken.token_hash == _hash(token),
        RefreshToken.revoked_at.is_not(None),
        RefreshToken.revoked_at < now - REUSE_GRACE,
    )
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id.in_(reused_family.scalar_subquery()), RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def rotate(session: AsyncSession, *, token: str, policy: TokenPolicy, now: datetime) -> SignedIn:
    """Uses `token` up and answers the next pair. One conditional UPDATE marks it used: of two
    requests with the same token, exactly one finds it unused."""
    used = (
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == _hash(token),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(revoked_at=now)
            .returning(RefreshToken.user_id, RefreshToken.family_id, RefreshToken.token_version)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if used is None:
        raise await _refusal(session, token, now)
    user = await session.get(User, used.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated(
            "The user of this token no longer exists or is inactive.", code="auth.user_inactive"
        )
    if user.token_version != used.token_version:
        raise NotAuthenticated(
            "This token was revoked (password changed or signed out everywhere); sign in again.",
            code="auth.token_revoked",
        )
    return await issue_tokens(session, user, policy=policy, now=now, family_id=used.family_id)


async def sign_out_device(session: AsyncSession, *, token: str, now: datetime) -> None:
    """Revokes the family of `token`: the device that holds it is signed out, the user's other
    devices are not. An unknown, expired or already revoked token changes nothing (RFC 7009)."""
    family = select(RefreshToken.family_id).where(RefreshToken.token_hash == _hash(token))
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id.in_(family.scalar_subquery()), RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def _refusal(session: AsyncSession, token: str, now: datetime) -> NotAuthenticated:
    found = (
        await session.execute(
            select(RefreshToken.revoked_at, RefreshToken.expires_at).where(
                RefreshToken.token_hash == _hash(token)
            )
        )
    ).one_or_none()
    if found is None:
        return NotAuthenticated("The refresh token is invalid.", code="auth.refresh_token_invalid")
    if found.revoked_at is not None:
        return NotAuthenticated(
            "This refresh token was used already or revoked; sign in again.",
            code="auth.refresh_token_revoked",
        )
    return NotAuthenticated("The refresh token expired; sign in again.", code="auth.refresh_token_expired")


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    """Expired tokens are refused as expired or unknown alike; their rows only take space."""
    result = await session.execute(delete(RefreshToken).where(RefreshToken.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)
