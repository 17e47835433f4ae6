"""Bulk imports from CSV/XLSX: progress, counts and per-row errors; resumable by row number."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Entity, str_enum
from app.domain.imports.import_jobs import ImportKind, ImportStatus


class ImportJob(Entity):
    __tablename__ = "import_job"
    __table_args__ = (Index(None, "organization_id", "created_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    kind: Mapped[ImportKind] = mapped_column(str_enum(ImportKind))
    status: Mapped[ImportStatus] = mapped_column(str_enum(ImportStatus), default=ImportStatus.queued)
    filename: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(255))
    column_mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    total_rows: Mapped[int | None]
    # Rows up to this number (1-based, header excluded) are done; a resumed job starts after it.
    processed_rows: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    duplicate_count: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    # Cells of created rows the job reports on (a formula stored as text): not errors.
    warning_count: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    failure: Mapped[str | None] = mapped_column(Text)


class ImportRowError(Base):
    """One line of a job's row report: an error (the row was not imported, or was a duplicate), or
    a warning about a row that was."""

    __tablename__ = "import_row_error"
    __table_args__ = (Index(None, "import_job_id", "row_number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    import_job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("import_job.id", ondelete="CASCADE"))
    row_number: Mapped[int]
    field: Mapped[str | None] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(500))
    is_warning: Mapped[bool] = mapped_column(default=False, server_default=false())
