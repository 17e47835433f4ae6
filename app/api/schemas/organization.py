"""The caller's organization."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, field_validator
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import PatchModel, Record
from app.domain.organization.organization_settings import OrganizationSettings, effective_settings
from app.domain.platform.merge_patch import patch_model

if TYPE_CHECKING:
    # Built at import from the settings model, so unknown to a type checker (read via changes()).
    SettingsPatch = Any
else:
    SettingsPatch = patch_model(OrganizationSettings)

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
    "settings": OrganizationSettings().model_dump(mode="json"),
}


class OrganizationOut(Record):
    model_config = ConfigDict(json_schema_extra={"examples": [_ORG_EXAMPLE]})

    name: str
    slug: str
    timezone: str
    currency: str
    locale: str
    settings: OrganizationSettings = Field(
        description="Every setting with its value, or its default where none was set."
    )

    @field_validator("settings", mode="before")
    @classmethod
    def _effective(cls, stored: Any) -> OrganizationSettings:
        return stored if isinstance(stored, OrganizationSettings) else effective_settings(stored)


class OrganizationUpdate(PatchModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"timezone": "Asia/Shanghai", "locale": "en"},
                {
                    "settings": {
                        "rag_red_after_hours": 48,
                        "lead_pool": {"max_open_leads": 150, "idle_days": None},
                    }
                },
            ]
        }
    )

    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | SkipJsonSchema[None]
    ) = None
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | SkipJsonSchema[None] = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | SkipJsonSchema[None] = None
    locale: Annotated[str, StringConstraints(pattern=r"^(zh|en)(-[A-Z]{2})?$")] | SkipJsonSchema[None] = None
    # Not `| None`: a union would name its members in the field of every error inside the patch.
    settings: SettingsPatch = Field(
        default=None,
        description="A JSON Merge Patch (RFC 7396) of the settings: the keys named change, "
        "a null returns a key to its default, every other key stays as it is.",
    )

    def changes(self) -> dict[str, Any]:
        # JSON values (decimals as text), as the settings are stored.
        return self.model_dump(mode="json", exclude_unset=True)
