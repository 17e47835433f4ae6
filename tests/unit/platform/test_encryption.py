"""CRM_SECRETS_KEY: required in production, generated once elsewhere, several keys for rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from app.config import Environment, Settings
from app.encryption import KeyRing, SecretsKeyError

JWT = "j" * 40
# The tests' environment lowers the password-hash cost, which production settings refuse.
PRODUCTION_HASHING = {"password_hash_time_cost": 3, "password_hash_memory_kib": 65536}


def test_production_requires_a_secrets_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="CRM_SECRETS_KEY is required"):
        Settings(
            env=Environment.production, jwt_secret=JWT, secrets_key="", var_dir=tmp_path, **PRODUCTION_HASHING
        )
    key = Fernet.generate_key().decode()
    production = Settings(
        env=Environment.production, jwt_secret=JWT, secrets_key=key, var_dir=tmp_path, **PRODUCTION_HASHING
    )
    assert production.resolved_secrets_keys() == [key]
    assert not (tmp_path / "secrets_key").exists()


def test_a_key_that_is_not_a_fernet_key_is_refused_by_position() -> None:
    with pytest.raises(ValidationError, match="key 2 of CRM_SECRETS_KEY is not a Fernet key"):
        Settings(secrets_key=f"{Fernet.generate_key().decode()}, not-a-key")


def test_a_development_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(var_dir=tmp_path).resolved_secrets_keys()
    assert Settings(var_dir=tmp_path).resolved_secrets_keys() == first
    assert (tmp_path / "secrets_key").stat().st_mode & 0o777 == 0o600


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    written_before = KeyRing([old]).encrypt("whsec_abc")
    ring = KeyRing(Settings(secrets_key=f"{new},{old}").resolved_secrets_keys())

    assert ring.decrypt(written_before) == "whsec_abc"
    assert KeyRing([new]).decrypt(ring.encrypt("whsec_abc")) == "whsec_abc"
    assert KeyRing([new]).decrypt(ring.reencrypt(written_before)) == "whsec_abc"
    with pytest.raises(SecretsKeyError):
        KeyRing([new]).decrypt(written_before)
