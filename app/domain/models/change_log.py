"""The change log: one row per created, updated or deleted synced record, written in the change's
own transaction (app/services/platform/change_log.py), read by GET /changes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, str_enum, utcnow
from app.domain.platform.changes import ChangeOp

# SQLite gives a rowid alias (autoincrement) only to an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class ChangeLogEntry(Base):
    __tablename__ = "change_log"
    __table_args__ = (
        # The feed reads an organization's entries in (xact_id, id) order.
        Index(None, "organization_id", "xact_id", "id"),
        Index(None, "changed_at"),
        # Without AUTOINCREMENT SQLite reuses the highest id once it is deleted: a prune that empties
        # the log would restart the numbering behind every cursor handed out.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[uuid.UUID]
    op: Mapped[ChangeOp] = mapped_column(str_enum(ChangeOp))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # PostgreSQL: the writing transaction's id (pg_current_xact_id()), so the feed hands out an
    # entry only once every transaction that could still add an earlier one has ended. SQLite
    # serialises writers, so id order is commit order there and this stays 0.
    xact_id: Mapped[int] = mapped_column(BigInteger, default=0)
