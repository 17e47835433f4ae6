"""Exports of lists as spreadsheet files: the formats, and how many rows one answer may carry."""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


class ExportStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


FINISHED = frozenset({ExportStatus.done, ExportStatus.failed})
# A run is given this many starts: one cut short (a worker killed, a deploy) is begun again by the
# sweep, a list that kills its worker every time fails instead of looping.
MAX_EXPORT_ATTEMPTS = 3


def export_progress(rows_written: int, total_rows: int | None, status: ExportStatus) -> float | None:
    """The share of the list written, 0 to 1; None while the list is not counted yet. Rows created
    during the run may take the count past the total: progress stays below 1 until the file is done."""
    if status is ExportStatus.done:
        return 1.0
    if not total_rows:
        return None
    return min(rows_written / total_rows, 0.99)


CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {CSV_MEDIA_TYPE: ExportFormat.csv, XLSX_MEDIA_TYPE: ExportFormat.xlsx}
_JSON = "application/json"


def preferred_media_type(accept: str, offered: Collection[str]) -> str | None:
    """The first of the `offered` file media types the Accept header names before JSON; None:
    answer JSON."""
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in offered:
            return media
        if media == _JSON:
            return None
    return None


def requested_format(accept: str) -> ExportFormat | None:
    """The file format a list is asked for, when the client prefers one to JSON."""
    media = preferred_media_type(accept, MEDIA_TYPES)
    return None if media is None else MEDIA_TYPES[media]


# More rows than one way of exporting carries (an Accept answer, an export job): narrow the filters.
TOO_MANY_ROWS = "export.too_many_rows"

# The audit trail's record of an export: who, which list, which filters, how many rows.
EXPORT_AUDIT_ACTION = "records.exported"
EXPORT_ENTITY_TYPE = "export"
