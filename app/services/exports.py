"""Exports of lists as CSV or XLSX files: the files written, and each export kept in the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.exports import EXPORT_AUDIT_ACTION, EXPORT_ENTITY_TYPE, ExportFormat
from app.domain.principal import Principal
from app.services import audit
from app.services.spreadsheets import write_csv, write_xlsx


def write_file(
    format_: ExportFormat, header: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str
) -> bytes:
    if format_ is ExportFormat.xlsx:
        return write_xlsx(header, rows, title=title)
    return write_csv(header, rows)


async def record_export(
    session: AsyncSession,
    *,
    actor: Principal,
    export_id: uuid.UUID,
    resource: str,
    format_: ExportFormat,
    filters: Mapping[str, Any],
    rows: int,
) -> None:
    """One audit entry per export: who (the entry's actor), which list, with which filters, how
    many rows, in which format."""
    await audit.record_audit(
        session,
        actor=actor,
        action=EXPORT_AUDIT_ACTION,
        entity_type=EXPORT_ENTITY_TYPE,
        entity_id=export_id,
        after={"resource": resource, "format": format_.value, "filters": dict(filters), "rows": rows},
    )
