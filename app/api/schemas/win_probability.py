"""Win probability of a deal, and the trained model's measured quality."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.common import Day
from app.domain.scores.win_probability import ProbabilitySource

_MODEL_EXAMPLE: dict[str, Any] = {
    "version": 7,
    "trained_at": "2026-12-07T18:23:50Z",
    "kind": "logistic_regression",
    "signal": "usable",
    "closed_deals": 3120,
}


class FactorOut(BaseModel):
    name: str = Field(
        description="A feature: stage, product, source, industry, amount_band, days_in_stage, …"
    )
    value: str | float = Field(description="The deal's value of it: a category, or days, a count, a rate.")
    contribution: float = Field(
        description="Its term in the log-odds; the intercept plus every term is the logit."
    )


class ModelRefOut(BaseModel):
    version: int
    trained_at: datetime
    kind: str | None = Field(
        description="logistic_regression or naive_bayes; null when too few deals closed."
    )
    signal: str | None = Field(
        description="usable, or none when the holdout showed no skill beyond the base rate."
    )
    closed_deals: int


class WinProbabilityOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "opportunity_id": "4f5a6b7c-8d9e-4f0a-9b1c-2d3e4f5a6b7c",
                    "probability": 70.0,
                    "source": "manual",
                    "automatic_probability": 38.42,
                    "automatic_source": "model",
                    "manual_probability": 70,
                    "intercept": 0.21,
                    "factors_up": [{"name": "owner_win_rate", "value": 0.71, "contribution": 0.64}],
                    "factors_down": [
                        {"name": "days_since_effective_activity", "value": 23.0, "contribution": -1.12}
                    ],
                    "model": _MODEL_EXAMPLE,
                    "as_of": "2026-12-08T02:00:00Z",
                }
            ]
        }
    )

    opportunity_id: uuid.UUID
    probability: float = Field(description="Percent: the rep's own figure when set, else the automatic one.")
    source: ProbabilitySource
    automatic_probability: float = Field(description="Percent: the model's, else the stage's configured one.")
    automatic_source: ProbabilitySource
    manual_probability: int | None
    intercept: float | None = Field(
        description="The model's log-odds before any factor; null without a model."
    )
    factors_up: list[FactorOut] = Field(description="Every factor raising it, strongest first.")
    factors_down: list[FactorOut] = Field(description="Every factor lowering it, strongest first.")
    model: ModelRefOut | None = Field(description="The model version; null before any training.")
    as_of: datetime


class RetrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"cut_date": "2017-08-01"}]})

    cut_date: Day | None = Field(
        default=None,
        description="Judge on deals closed on or after this day (the organization's time zone), train "
        "on those before. Default: the newest 20 % of closed deals are the holdout.",
    )


class RetrainAcceptedOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "queued", "location": "/api/v1/scoring/models/current"}]}
    )

    status: str = Field(description="queued")
    location: str = Field(description="Where the new version shows once trained.")


class CalibrationBinOut(BaseModel):
    lower: float
    upper: float
    count: int
    mean_predicted: float | None
    observed_win_rate: float | None


class ModelMetricsOut(BaseModel):
    auc: float | None = Field(description="Holdout ROC AUC; null when the holdout is all won or all lost.")
    log_loss: float
    brier: float
    expected_calibration_error: float
    calibration: list[CalibrationBinOut] = Field(description="Ten bins of predicted probability.")


class BaseRateOut(BaseModel):
    win_rate: float = Field(description="The training deals' win rate, forecast for every holdout deal.")
    brier: float
    log_loss: float


class RowCountsOut(BaseModel):
    train: int
    train_won: int
    holdout: int
    holdout_won: int


class CurrentModelOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_MODEL_EXAMPLE,
                    "status": "trained",
                    "reason": None,
                    "cut_at": "2026-10-01T00:00:00+08:00",
                    "rows": {"train": 2496, "train_won": 1040, "holdout": 624, "holdout_won": 251},
                    "base_rate": {"win_rate": 0.4167, "brier": 0.241, "log_loss": 0.676},
                    "chosen_metrics": None,
                    "baseline_metrics": None,
                }
            ]
        }
    )

    version: int
    trained_at: datetime
    status: str = Field(description="trained, or insufficient_data (stage probabilities answer).")
    reason: str | None
    kind: str | None
    signal: str | None = Field(description="usable, or none: no skill beyond the base rate on the holdout.")
    closed_deals: int
    cut_at: datetime | None
    rows: RowCountsOut | None
    base_rate: BaseRateOut | None
    chosen_metrics: ModelMetricsOut | None = Field(description="The chosen model on the holdout.")
    baseline_metrics: ModelMetricsOut | None = Field(
        description="Naive Bayes (Odoo's method) on the holdout."
    )

    @classmethod
    def of(cls, metrics: dict[str, Any], **fields: Any) -> CurrentModelOut:
        models = metrics.get("models", {})
        return cls(
            **fields,
            reason=metrics.get("reason"),
            rows=metrics.get("rows"),
            base_rate=metrics.get("base_rate"),
            chosen_metrics=models.get(fields["kind"]) if fields["kind"] else None,
            baseline_metrics=models.get("naive_bayes"),
        )
