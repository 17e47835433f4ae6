"""API keys as the API shows them; the secret only once, at creation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from app.api.schemas.common import ListPage, Record, Timestamp, name_of
from app.domain.identity.permissions import API_KEY_SCOPES

_KEY_EXAMPLE: dict[str, Any] = {
    "id": "9c8b7a6f-5e4d-4c3b-2a19-0f8e7d6c5b4a",
    "version": 1,
    "created_at": "2026-11-22T08:00:00Z",
    "updated_at": "2026-11-22T08:00:00Z",
    "name": "BI nightly pull",
    "prefix": "a1b2c3d4e5f6",
    "scopes": ["users:read"],
    "created_by_id": "5b0f4c5e-2a7d-4b7e-9f8a-2c1d3e4f5a6b",
    "created_by_name": "李明",
    "last_used_at": None,
    "expires_at": None,
    "revoked_at": None,
}


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "BI nightly pull", "scopes": ["users:read"]}]},
    )

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    scopes: Annotated[
        list[Annotated[str, StringConstraints(max_length=64)]],
        Field(max_length=32),
        WithJsonSchema(
            {"type": "array", "items": {"enum": sorted(s.value for s in API_KEY_SCOPES)}, "maxItems": 32}
        ),
    ] = Field(default_factory=list)
    expires_at: Timestamp | None = None


class ApiKeyOut(Record):
    model_config = ConfigDict(json_schema_extra={"examples": [_KEY_EXAMPLE]})

    name: str
    prefix: str
    scopes: list[str]
    created_by_id: uuid.UUID | None
    created_by_name: str | None = name_of("user who created the key")
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_KEY_EXAMPLE, "secret": "crm_a1b2c3d4e5f6_Zm9vYmFy..."}]}
    )

    secret: str | None = Field(
        description="Shown only in this answer; store it now. null when the answer is replayed for the "
        "same Idempotency-Key (the key is not stored where it could be read)."
    )


class ApiKeyPage(ListPage):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_KEY_EXAMPLE], "next_cursor": None}]}
    )

    items: list[ApiKeyOut]
