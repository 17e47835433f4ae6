"""Shapes shared by every resource: problems, pages and record metadata."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _iso_8601_only(value: Any) -> Any:
    # Pydantic reads "0.5" or 1700000000 as Unix time; the contract promises ISO 8601 text.
    if isinstance(value, str) and not (len(value) >= 10 and value[4] == "-" and value[7] == "-"):
        raise ValueError("use ISO 8601 with an offset, e.g. 2026-11-23T10:00:00+08:00")
    if isinstance(value, int | float):
        raise ValueError("use ISO 8601 with an offset, e.g. 2026-11-23T10:00:00+08:00")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_8601_only)]
"""An instant in ISO 8601 with its offset; naive or numeric times are refused."""


class ProblemFieldError(BaseModel):
    field: str = Field(examples=["username"])
    code: str = Field(examples=["unique"])
    message: str = Field(examples=["already in use"])


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "https://errors.salescrm.dev/user.username_taken",
                    "title": "Conflict",
                    "status": 409,
                    "detail": "The username 'li.lei' is taken.",
                    "code": "user.username_taken",
                    "errors": [{"field": "username", "code": "unique", "message": "already in use"}],
                }
            ]
        }
    )

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[ProblemFieldError] = Field(default_factory=list)
    existing_id: str | None = Field(
        default=None, description="On a duplicate: the id of the existing record."
    )
    matched_field: str | None = Field(default=None, description="On a duplicate: which field matched.")


class Record(BaseModel):
    """Fields every resource carries."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    version: int = Field(description="Incremented on every change; send it back as If-Match.", examples=[1])
    created_at: datetime
    updated_at: datetime


class PatchModel(BaseModel):
    """A partial update: omit a field to keep it. Fields typed `X | SkipJsonSchema[None]` are optional
    but not nullable; an explicit null for them is refused, null clears only `nullable_fields`."""

    model_config = ConfigDict(extra="forbid")
    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _refuse_null_for_required_columns(self) -> Self:
        for name in self.model_fields_set:
            if getattr(self, name) is None and name not in self.nullable_fields:
                raise ValueError(f"{name} may be omitted but not null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)
