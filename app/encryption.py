"""Secrets at rest: column types that store webhook signing secrets and channel keys encrypted with
the keys of `CRM_SECRETS_KEY` (Fernet: AES-128-CBC with HMAC-SHA256), so a database dump or backup
holds none of them in the clear.

The key ring is process-wide because a column type gets no session or request to ask for it: the
app, the worker and the CLI set it once from their settings (`use_keys`); anything that reads an
encrypted column before that (a migration, a script) gets the one `get_settings()` resolves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text, TypeDecorator
from sqlalchemy.engine import Dialect


class SecretsKeyError(ValueError):
    """A stored secret that none of the configured keys opens: the key was lost or changed."""


class KeyRing:
    """The first key encrypts; every key decrypts, so a new key can go first while rows written
    with the old one are still read (docs/operations.md, rotating the secrets key)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one secrets key is needed")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretsKeyError(_UNREADABLE) from exc

    def reencrypt(self, token: str) -> str:
        """The token encrypted again with the first key (unchanged plaintext)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretsKeyError(_UNREADABLE) from exc


_UNREADABLE = (
    "A stored secret cannot be decrypted with any key of CRM_SECRETS_KEY; a key it was written with "
    "is missing."
)


def parse_keys(value: str) -> list[str]:
    """`CRM_SECRETS_KEY`: comma-separated Fernet keys; ValueError names the bad one by position."""
    keys = [key.strip() for key in value.split(",") if key.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except ValueError as exc:
            raise ValueError(
                f"key {position} of CRM_SECRETS_KEY is not a Fernet key (32 bytes, url-safe base64; "
                'generate one with python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())")'
            ) from exc
    return keys


_ring: KeyRing | None = None


def use_keys(keys: Sequence[str]) -> None:
    global _ring
    _ring = KeyRing(keys)


def key_ring() -> KeyRing:
    if _ring is None:
        from app.config import get_settings  # here: config imports parse_keys from this module

        use_keys(get_settings().resolved_secrets_keys())
    assert _ring is not None
    return _ring


class EncryptedText(TypeDecorator[str]):
    """A string stored as a Fernet token."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else key_ring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else key_ring().decrypt(value)


class EncryptedJSON(TypeDecorator[dict[str, Any]]):
    """A JSON object stored as one Fernet token: which of its fields are secret depends on the row."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return key_ring().encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def process_result_value(self, value: str | None, dialect: Dialect) -> dict[str, Any] | None:
        if value is None:
            return None
        decoded: dict[str, Any] = json.loads(key_ring().decrypt(value))
        return decoded
