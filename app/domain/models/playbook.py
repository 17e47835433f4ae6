"""Playbook entries (cases, objection answers, scripts, policies, recordings), the terms search
finds them by, and each recorded use of an entry."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Entity, str_enum
from app.domain.playbook.playbook import ApprovalState, PlaybookKind


class PlaybookEntry(Entity):
    __tablename__ = "playbook_entry"
    __table_args__ = (
        Index(None, "organization_id", "approval_state", "created_at"),
        Index(None, "organization_id", "author_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    kind: Mapped[PlaybookKind] = mapped_column(str_enum(PlaybookKind))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    industry: Mapped[str | None] = mapped_column(String(64))
    customer_type: Mapped[str | None] = mapped_column(String(64))
    stage_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipeline_stage.id", ondelete="SET NULL"))
    product_line: Mapped[str | None] = mapped_column(String(64))
    objection_type: Mapped[str | None] = mapped_column(String(64))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # The activity a rep proposed this answer from (issue 21, point 7).
    activity_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("activity.id", ondelete="SET NULL"))
    approval_state: Mapped[ApprovalState] = mapped_column(
        str_enum(ApprovalState), default=ApprovalState.draft
    )
    approval_decided_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    approval_decided_at: Mapped[datetime | None]
    approval_reason: Mapped[str | None] = mapped_column(String(500))
    usage_count: Mapped[int] = mapped_column(default=0)
    # The segmented words of title, body and tags, space-separated: what playbook_term indexes.
    search_terms: Mapped[str] = mapped_column(Text, default="")


class PlaybookTerm(Base):
    """One row per distinct term of an entry: a search is an indexed lookup of the query's terms
    and a count per entry, the same SQL on PostgreSQL and SQLite."""

    __tablename__ = "playbook_term"
    # With is_tag in the index a search reads the index alone.
    __table_args__ = (Index(None, "organization_id", "term", "entry_id", "is_tag"),)

    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("playbook_entry.id", ondelete="CASCADE"), primary_key=True
    )
    term: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    is_tag: Mapped[bool] = mapped_column(default=False)


class PlaybookUse(Base):
    """A rep used an entry on an activity; once per entry and activity."""

    __tablename__ = "playbook_use"
    __table_args__ = (UniqueConstraint("entry_id", "activity_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("playbook_entry.id", ondelete="CASCADE"))
    activity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("activity.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
