"""Import jobs: progress, counts and per-row errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.common import ListPage, Record
from app.domain.models import ImportKind, ImportStatus

_ERROR_EXAMPLE: dict[str, Any] = {
    "row_number": 7,
    "field": "phone",
    "code": "phone.invalid",
    "message": "not a valid phone number",
}
_WARNING_EXAMPLE: dict[str, Any] = {
    "row_number": 9,
    "field": "company",
    "code": "import.formula_stored_as_text",
    "message": '\'=HYPERLINK("http://example.com","申华")\' starts like a formula: stored as text, '
    "not evaluated; CSV exports prefix it with an apostrophe",
}
_JOB_EXAMPLE: dict[str, Any] = {
    "id": "4c5d6e7f-8091-4a2b-9c3d-4e5f6a7b8c9d",
    "version": 3,
    "created_at": "2026-11-23T02:00:00Z",
    "updated_at": "2026-11-23T02:00:09Z",
    "kind": "leads",
    "status": "completed",
    "filename": "展会线索.xlsx",
    "total_rows": 1200,
    "processed_rows": 1200,
    "created_count": 1150,
    "duplicate_count": 38,
    "error_count": 12,
    "warning_count": 1,
    "started_at": "2026-11-23T02:00:01Z",
    "finished_at": "2026-11-23T02:00:09Z",
    "failure": None,
    "errors": [_ERROR_EXAMPLE],
    "warnings": [_WARNING_EXAMPLE],
}


class ImportRowErrorOut(BaseModel):
    """One line of the row report: an error, or a warning about a row that was imported."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_ERROR_EXAMPLE]})

    row_number: int
    field: str | None
    code: str
    message: str


class ImportJobOut(Record):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_JOB_EXAMPLE]})

    kind: ImportKind
    status: ImportStatus
    filename: str
    total_rows: int | None
    processed_rows: int
    created_count: int
    duplicate_count: int
    error_count: int
    warning_count: int = Field(description="Warnings about imported rows, e.g. a formula stored as text.")
    started_at: datetime | None
    finished_at: datetime | None
    failure: str | None
    errors: list[ImportRowErrorOut] = []
    warnings: list[ImportRowErrorOut] = []


class ImportRowErrorPage(ListPage):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_ERROR_EXAMPLE], "next_cursor": None}]}
    )

    items: list[ImportRowErrorOut]
