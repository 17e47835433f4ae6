"""Password hashing (argon2 via pwdlib), JWT access tokens (PyJWT) and API-key secrets."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.domain.identity.permissions import Role
from app.domain.platform.errors import NotAuthenticated

_password_hash = PasswordHash((Argon2Hasher(),))
# Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _password_hash.hash("not-a-real-password")


def use_password_hashing(*, time_cost: int, memory_kib: int) -> None:
    """Sets the argon2id cost of new hashes for this process; hashes made at another cost still verify
    (each hash carries its parameters)."""
    global _password_hash, _DUMMY_HASH
    _password_hash = PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib),))
    _DUMMY_HASH = _password_hash.hash("not-a-real-password")


JWT_ALGORITHM = "HS256"
API_KEY_MARK = "crm_"


def hash_password(password: str) -> str:
    return _password_hash.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _password_hash.verify(password, _DUMMY_HASH)
        return False
    return _password_hash.verify(password, password_hash)


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role
    # The user's token_version when the token was issued; tokens from before versions count as 0.
    token_version: int = 0


def issue_access_token(claims: TokenClaims, *, secret: str, now: datetime, ttl: timedelta) -> str:
    payload = {
        "sub": str(claims.user_id),
        "org": str(claims.organization_id),
        "role": claims.role.value,
        "tv": claims.token_version,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM)


def read_access_token(token: str, *, secret: str, now: datetime) -> TokenClaims:
    """Verify signature and expiry; only HS256 is accepted, so `alg: none` and algorithm swaps fail.

    Expiry is checked against the injected clock rather than PyJWT's wall clock, so time is
    controllable in tests and consistent with every other time rule.
    """
    claims, expires_at = _verified_claims(token, secret)
    if expires_at <= now.timestamp():
        raise NotAuthenticated("The access token has expired.", code="auth.token_expired")
    return claims


# A client sends the same token with every request until it expires: its signature is checked once
# per process. Only valid tokens are kept (an exception is not cached), and the expiry is checked on
# every call, so caching changes nothing a client can see.
@functools.lru_cache(maxsize=4096)
def _verified_claims(token: str, secret: str) -> tuple[TokenClaims, int]:
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "sub", "org", "role"], "verify_exp": False, "verify_iat": False},
        )
        return (
            TokenClaims(
                user_id=uuid.UUID(payload["sub"]),
                organization_id=uuid.UUID(payload["org"]),
                role=Role(payload["role"]),
                token_version=int(payload.get("tv", 0)),
            ),
            int(payload["exp"]),
        )
    except (jwt.InvalidTokenError, ValueError, KeyError, TypeError) as exc:
        raise NotAuthenticated("The access token is invalid.", code="auth.token_invalid") from exc


@dataclass(frozen=True)
class ApiKeySecret:
    prefix: str
    plaintext: str
    secret_hash: str


def generate_api_key() -> ApiKeySecret:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return ApiKeySecret(
        prefix=prefix, plaintext=f"{API_KEY_MARK}{prefix}_{secret}", secret_hash=hash_api_key_secret(secret)
    )


def hash_api_key_secret(secret: str) -> str:
    # A random secret (an API key's 256 bits, a web-form key's 192) needs no slow hash: SHA-256
    # cannot be brute-forced at that entropy.
    return hashlib.sha256(secret.encode()).hexdigest()


def split_api_key(token: str) -> tuple[str, str] | None:
    if not token.startswith(API_KEY_MARK):
        return None
    prefix, sep, secret = token[len(API_KEY_MARK) :].partition("_")
    if not sep or not prefix or not secret:
        return None
    return prefix, secret


def api_key_secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key_secret(secret), secret_hash)
