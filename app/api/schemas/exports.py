"""Export jobs: a list, its filters and a format in; the export's progress and file out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

from app.api.schemas.common import ListPage, Record
from app.domain.reports.exports import ExportFormat, ExportStatus, export_progress

_EXPORT_EXAMPLE: dict[str, Any] = {
    "id": "5d6e7f80-9102-4b3c-8d4e-5f6a7b8c9d0e",
    "version": 14,
    "created_at": "2026-11-23T02:00:00Z",
    "updated_at": "2026-11-23T02:00:41Z",
    "list": "leads",
    "filters": {"region": "华东", "status": ["new", "assigned"], "created_from": "2026-01-01T00:00:00+08:00"},
    "format": "xlsx",
    "status": "running",
    "rows_written": 24000,
    "total_rows": 48210,
    "progress": 0.4978,
    "started_at": "2026-11-23T02:00:01Z",
    "finished_at": None,
    "error": None,
    "file_url": None,
}

FilterName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
FilterText = Annotated[str, StringConstraints(max_length=1000)]
FilterValue = FilterText | bool | int | Annotated[list[FilterText], Field(max_length=200)]


class ExportCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "list": "leads",
                    "filters": {"region": "华东", "status": ["new", "assigned"]},
                    "format": "csv",
                }
            ]
        },
    )

    list_: str = Field(
        alias="list",
        min_length=1,
        max_length=32,
        description="The list to export, by the last segment of its path: leads, lead-pool, customers, "
        "contacts, opportunities, activities, tasks, quotes, users, audit-events (docs/exports.md).",
    )
    filters: dict[FilterName, FilterValue] = Field(
        default_factory=dict,
        max_length=50,
        description="The list's query parameters as its GET takes them (a repeated one as a list; "
        "contacts also take the customer_id of their path), validated as the list validates them. "
        "limit and cursor are not filters: the export reads every page.",
    )
    format: ExportFormat = ExportFormat.csv


class ExportOut(Record):
    model_config = ConfigDict(
        from_attributes=True, populate_by_name=True, json_schema_extra={"examples": [_EXPORT_EXAMPLE]}
    )

    list_: str = Field(validation_alias="list_name", serialization_alias="list")
    filters: dict[str, Any]
    format: ExportFormat
    status: ExportStatus = Field(
        description="queued, running, done (the file can be downloaded) or failed (`error` says why)."
    )
    rows_written: int = Field(description="Rows written to the file so far.")
    total_rows: int | None = Field(
        description="The rows the list held when the run began; null until counted."
    )
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None

    @computed_field(description="Share of the list written, 0 to 1; null until the list is counted.")  # type: ignore[prop-decorator]
    @property
    def progress(self) -> float | None:
        share = export_progress(self.rows_written, self.total_rows, self.status)
        return None if share is None else round(share, 4)

    @computed_field(description="Where the file downloads once the export is done, else null.")  # type: ignore[prop-decorator]
    @property
    def file_url(self) -> str | None:
        return f"/api/v1/exports/{self.id}/file" if self.status is ExportStatus.done else None


class ExportPage(ListPage):
    items: list[ExportOut]
