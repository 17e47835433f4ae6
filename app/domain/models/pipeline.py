"""Sales pipelines and their stages, configured per organization."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity, str_enum
from app.domain.pipelines.pipelines import StageKind


class Pipeline(Entity):
    __tablename__ = "pipeline"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    is_default: Mapped[bool] = mapped_column(default=False)
    ordering_rules: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    lose_reasons: Mapped[list[str]] = mapped_column(default=list)


class PipelineStage(Entity):
    """A stage keeps its id for life: edits change it in place, and a stage taken out of the
    pipeline is archived, never deleted, so opportunities and their stage history always point at
    a real stage."""

    __tablename__ = "pipeline_stage"
    __table_args__ = (Index(None, "pipeline_id", "position"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipeline.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[StageKind] = mapped_column(str_enum(StageKind))
    probability: Mapped[int]
    required_fields: Mapped[list[str]] = mapped_column(default=list)
    required_evidence: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    max_dwell_hours: Mapped[int | None]
    actions: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    archived_at: Mapped[datetime | None]
