"""Exports of lists as spreadsheet files: the formats, and how many rows one answer may carry."""

from __future__ import annotations

from enum import StrEnum


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {CSV_MEDIA_TYPE: ExportFormat.csv, XLSX_MEDIA_TYPE: ExportFormat.xlsx}
_JSON = "application/json"


def requested_format(accept: str) -> ExportFormat | None:
    """The file format the client asks for, when it prefers one to JSON (the first named wins)."""
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in MEDIA_TYPES:
            return MEDIA_TYPES[media]
        if media == _JSON:
            return None
    return None


# The audit trail's record of an export: who, which list, which filters, how many rows.
EXPORT_AUDIT_ACTION = "records.exported"
EXPORT_ENTITY_TYPE = "export"
