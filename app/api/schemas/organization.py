"""The caller's organization."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import PatchModel, Record

_ORG_EXAMPLE: dict[str, Any] = {
    "id": "1e2d3c4b-5a69-4788-97a6-b5c4d3e2f1a0",
    "version": 1,
    "created_at": "2026-11-22T08:00:00Z",
    "updated_at": "2026-11-22T08:00:00Z",
    "name": "华东建材贸易有限公司",
    "slug": "demo-building-materials",
    "timezone": "Asia/Shanghai",
    "currency": "CNY",
    "locale": "zh-CN",
    "settings": {},
}


class OrganizationOut(Record):
    model_config = ConfigDict(json_schema_extra={"examples": [_ORG_EXAMPLE]})

    name: str
    slug: str
    timezone: str
    currency: str
    locale: str
    settings: dict[str, Any]


class OrganizationUpdate(PatchModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"timezone": "Asia/Shanghai", "locale": "en"}]})

    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | SkipJsonSchema[None]
    ) = None
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | SkipJsonSchema[None] = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | SkipJsonSchema[None] = None
    locale: Annotated[str, StringConstraints(pattern=r"^(zh|en)(-[A-Z]{2})?$")] | SkipJsonSchema[None] = None
    settings: (
        Annotated[
            dict[str, Any],
            Field(
                max_length=100,
                description="A JSON Merge Patch (RFC 7396) of the settings: the keys named change, "
                "a null returns a key to its default, every other key stays as it is.",
            ),
        ]
        | SkipJsonSchema[None]
    ) = None
