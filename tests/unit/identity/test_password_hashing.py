"""The argon2id cost of password hashes: pwdlib's recommendation by default, OWASP's minimum in
production, and hashes made at an earlier cost still verify after it changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from app.config import Environment, Settings
from app.services.identity.security import hash_password, use_password_hashing, verify_password

JWT = "j" * 40
SECRETS_KEY = "r9ci8uohoT5N0HNXsmWLS0te7Y5WJIS4eDzAe2zi-o8="


@pytest.fixture
def restore_test_cost() -> Iterator[None]:
    yield
    use_password_hashing(time_cost=1, memory_kib=64)


def test_without_the_variables_new_hashes_use_the_recommended_cost(
    monkeypatch: pytest.MonkeyPatch, restore_test_cost: None
) -> None:
    monkeypatch.delenv("CRM_PASSWORD_HASH_TIME_COST")
    monkeypatch.delenv("CRM_PASSWORD_HASH_MEMORY_KIB")
    settings = Settings()
    use_password_hashing(
        time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
    )

    assert hash_password("s3cret-pass").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


@pytest.mark.parametrize(("time_cost", "memory_kib"), [(1, 65536), (3, 8192)])
def test_production_refuses_a_cost_below_the_owasp_minimum(time_cost: int, memory_kib: int) -> None:
    with pytest.raises(ValidationError, match="CRM_PASSWORD_HASH_TIME_COST >= 2"):
        Settings(
            env=Environment.production,
            jwt_secret=JWT,
            secrets_key=SECRETS_KEY,
            password_hash_time_cost=time_cost,
            password_hash_memory_kib=memory_kib,
        )


def test_a_password_hashed_before_the_cost_changed_still_verifies(restore_test_cost: None) -> None:
    stored = hash_password("s3cret-pass")
    use_password_hashing(time_cost=2, memory_kib=19 * 1024)

    assert verify_password("s3cret-pass", stored)
    assert not verify_password("wrong-pass", stored)
