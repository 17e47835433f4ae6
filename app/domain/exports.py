"""Exports of lists as spreadsheet files: the formats, and how many rows one answer may carry."""

from __future__ import annotations

from enum import StrEnum


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


# The audit trail's record of an export: who, which list, which filters, how many rows.
EXPORT_AUDIT_ACTION = "records.exported"
EXPORT_ENTITY_TYPE = "export"
