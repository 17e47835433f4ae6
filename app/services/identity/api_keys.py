"""API keys for integrators: created with scopes, the secret shown once, revocable."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import API_KEY_SCOPES
from app.domain.identity.principal import Principal
from app.domain.models import ApiKey
from app.domain.platform.errors import FieldError, InvalidInput
from app.services.identity.security import generate_api_key
from app.services.platform import audit
from app.services.platform.common import OrganizationList, get_visible

SORTABLE = {"created_at": ApiKey.created_at, "updated_at": ApiKey.updated_at, "name": ApiKey.name}


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    secret: str


async def create_api_key(
    session: AsyncSession,
    *,
    actor: Principal,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    now: datetime,
) -> CreatedApiKey:
    allowed = {scope.value for scope in API_KEY_SCOPES}
    unknown = [scope for scope in scopes if scope not in allowed]
    if unknown:
        raise InvalidInput(
            "Unknown or forbidden scopes.",
            code="api_key.scope_invalid",
            errors=[FieldError("scopes", "scope.invalid", scope) for scope in unknown],
        )
    if expires_at is not None and expires_at <= now:
        raise InvalidInput(
            "expires_at must be in the future.",
            code="api_key.expiry_past",
            errors=[FieldError("expires_at", "past", "must be in the future")],
        )
    generated = generate_api_key()
    key = ApiKey(
        organization_id=actor.organization_id,
        name=name,
        prefix=generated.prefix,
        secret_hash=generated.secret_hash,
        scopes=sorted(set(scopes)),
        created_by_id=actor.user_id,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="api_key.created",
        entity_type="api_key",
        entity_id=key.id,
        after=audit.snapshot(key, ("name", "prefix", "scopes", "expires_at")),
    )
    return CreatedApiKey(api_key=key, secret=generated.plaintext)


list_api_keys = OrganizationList(ApiKey, SORTABLE, default_sort="created_at")


async def revoke_api_key(
    session: AsyncSession, *, actor: Principal, api_key_id: uuid.UUID, now: datetime
) -> ApiKey:
    key = await get_visible(session, ApiKey, api_key_id, actor=actor, for_update=True)
    if key.revoked_at is None:
        key.revoked_at = now
        await session.flush()
        await audit.record_audit(
            session,
            actor=actor,
            action="api_key.revoked",
            entity_type="api_key",
            entity_id=key.id,
            after={"revoked_at": now},
        )
    return key
