"""A list exported as a file by a job (`POST /exports`): which list, filters and format, who asked,
progress, and where the finished file is stored."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity, str_enum
from app.domain.reports.exports import ExportFormat, ExportStatus


class ExportJob(Entity):
    __tablename__ = "export_job"
    __table_args__ = (
        Index(None, "organization_id", "created_by_id", "created_at"),
        Index(None, "status", "updated_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    # The user the job reads the list as; an export is seen by them and by admins.
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    list_name: Mapped[str] = mapped_column(String(32))
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    format: Mapped[ExportFormat] = mapped_column(str_enum(ExportFormat))
    status: Mapped[ExportStatus] = mapped_column(str_enum(ExportStatus), default=ExportStatus.queued)
    rows_written: Mapped[int] = mapped_column(default=0)
    # The rows the list held when the run began (null until counted); progress is rows_written of it.
    total_rows: Mapped[int | None]
    # Runs begun: a run that finds a later one begun stops, and too many interrupted runs fail the export.
    attempts: Mapped[int] = mapped_column(default=0)
    storage_key: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
