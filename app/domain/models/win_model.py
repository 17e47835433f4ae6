"""Trained win-probability models: one row per training of an organization's closed deals."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class WinModel(Base):
    """`number` is the model version the API shows. `model` is data (coefficients or frequency
    tables, app/domain/scores/win_probability.py), never a pickle: scoring it runs no stored code. With
    too few closed deals the row records that (`model` is null) and stage probabilities answer."""

    __tablename__ = "win_model"
    # The newest model of an organization is the one its deals are scored with.
    __table_args__ = (UniqueConstraint("organization_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    number: Mapped[int]
    trained_at: Mapped[datetime]
    cut_at: Mapped[datetime | None]
    closed_deals: Mapped[int]
    # logistic_regression or naive_bayes; null without a model
    chosen: Mapped[str | None] = mapped_column(String(32))
    # usable, or none when the holdout showed no skill beyond the base rate; null without a model
    signal: Mapped[str | None] = mapped_column(String(16))
    model: Mapped[dict[str, Any] | None]
    baseline: Mapped[dict[str, Any] | None]
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
