"""Training and judging win-probability models on an organization's closed deals.

scikit-learn fits the logistic regression (its solver and time-ordered cross-validation of the
regularisation are well kept; writing our own would not be); the result is stored as plain
coefficients (app/domain/win_probability.LinearModel) and scored without it. The metrics are
written out here, in a few lines each, so the API, the tests and the bench compute them alike.

Judged on a time split: models learn from deals closed before the cut and are scored on those
closed on or after it, the way they will be used (on deals that close later). The served model is
then refitted on every closed deal with the settings the split chose.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from app.domain.scores.win_probability import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    DealSnapshot,
    Features,
    LinearModel,
    ModelKind,
    NaiveBayes,
    NumericTerm,
    features,
    model_input,
)

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

CALIBRATION_BINS = 10
_CANDIDATE_C = np.logspace(-4, 2, 13)
_EPSILON = 1e-15


@dataclass(frozen=True)
class LabelledSnapshot:
    """A closed deal for training: its snapshot before the outcome, and the outcome apart."""

    snapshot: DealSnapshot
    won: bool
    closed_at: datetime


@dataclass(frozen=True)
class TrainedModels:
    chosen: ModelKind
    signal: str  # "usable" or "none"
    model: dict[str, Any]  # the chosen one, refitted on every closed deal
    baseline: dict[str, Any]  # naive Bayes on every closed deal
    metrics: dict[str, Any]


def auc(probabilities: Sequence[float], outcomes: Sequence[bool]) -> float | None:
    """The chance a won deal scores above a lost one (ties count half); None without both kinds."""
    positives = sum(outcomes)
    negatives = len(outcomes) - positives
    if not positives or not negatives:
        return None
    order = sorted(range(len(probabilities)), key=lambda i: probabilities[i])
    ranks = [0.0] * len(order)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and probabilities[order[end + 1]] == probabilities[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    won_rank_sum = sum(rank for rank, won in zip(ranks, outcomes, strict=True) if won)
    return (won_rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def auc_standard_error(area: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil (1982)."""
    q1, q2 = area / (2 - area), 2 * area * area / (1 + area)
    variance = (
        area * (1 - area) + (positives - 1) * (q1 - area * area) + (negatives - 1) * (q2 - area * area)
    ) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def log_loss(probabilities: Sequence[float], outcomes: Sequence[bool]) -> float:
    total = 0.0
    for p, won in zip(probabilities, outcomes, strict=True):
        p = min(max(p, _EPSILON), 1 - _EPSILON)
        total -= math.log(p if won else 1 - p)
    return total / len(outcomes)


def brier(probabilities: Sequence[float], outcomes: Sequence[bool]) -> float:
    return sum((p - won) ** 2 for p, won in zip(probabilities, outcomes, strict=True)) / len(outcomes)


def calibration_table(probabilities: Sequence[float], outcomes: Sequence[bool]) -> list[dict[str, Any]]:
    """Ten equal-width bins of predicted probability: how many deals, what was predicted on average,
    what share was won."""
    bins: list[list[tuple[float, bool]]] = [[] for _ in range(CALIBRATION_BINS)]
    for p, won in zip(probabilities, outcomes, strict=True):
        bins[min(int(p * CALIBRATION_BINS), CALIBRATION_BINS - 1)].append((p, won))
    return [
        {
            "lower": index / CALIBRATION_BINS,
            "upper": (index + 1) / CALIBRATION_BINS,
            "count": len(members),
            "mean_predicted": sum(p for p, _ in members) / len(members) if members else None,
            "observed_win_rate": sum(won for _, won in members) / len(members) if members else None,
        }
        for index, members in enumerate(bins)
    ]


def expected_calibration_error(table: Sequence[dict[str, Any]]) -> float:
    total = sum(row["count"] for row in table)
    return sum(
        (
            row["count"] / total * abs(float(row["mean_predicted"]) - float(row["observed_win_rate"]))
            for row in table
            if row["count"]
        ),
        0.0,
    )


def scores(probabilities: Sequence[float], outcomes: Sequence[bool]) -> dict[str, Any]:
    table = calibration_table(probabilities, outcomes)
    return {
        "auc": auc(probabilities, outcomes),
        "log_loss": log_loss(probabilities, outcomes),
        "brier": brier(probabilities, outcomes),
        "expected_calibration_error": expected_calibration_error(table),
        "calibration": table,
    }


def _design(rows: Sequence[Features], model: LinearModel) -> np.ndarray:
    """One row per deal: standardised numbers, then one column per category level of the model."""
    columns: list[list[float]] = []
    for values in rows:
        line = [
            (model_input(name, values.numeric[name]) - term.mean) / term.scale
            for name, term in model.numeric.items()
        ]
        for name, levels in model.categorical.items():
            line.extend(1.0 if values.categorical[name] == level else 0.0 for level in levels)
        columns.append(line)
    return np.asarray(columns, dtype=float)


def _layout(rows: Sequence[Features]) -> LinearModel:
    """The columns (scaling and category levels) the rows call for, with zero weights."""
    numeric = {}
    for name in NUMERIC_FEATURES:
        inputs = np.asarray([model_input(name, values.numeric[name]) for values in rows])
        scale = float(inputs.std())
        numeric[name] = NumericTerm(float(inputs.mean()), scale if scale > 1e-9 else 1.0, 0.0)
    categorical = {
        name: dict.fromkeys(sorted({values.categorical[name] for values in rows}), 0.0)
        for name in CATEGORICAL_FEATURES
    }
    return LinearModel(0.0, numeric, categorical)


def _with_weights(layout: LinearModel, fitted: LogisticRegression | LogisticRegressionCV) -> LinearModel:
    weights = iter(float(w) for w in fitted.coef_[0])
    numeric = {
        name: NumericTerm(term.mean, term.scale, next(weights)) for name, term in layout.numeric.items()
    }
    categorical = {
        name: {level: next(weights) for level in levels} for name, levels in layout.categorical.items()
    }
    return LinearModel(float(fitted.intercept_[0]), numeric, categorical)


def fit_logistic(
    rows: Sequence[Features], outcomes: Sequence[bool], c: float | None = None
) -> tuple[LinearModel, float]:
    """With `c` None the regularisation is chosen by time-ordered cross-validation on log loss (the
    rows come oldest first), so a history without signal gets a model close to its base rate."""
    # scikit-learn takes seconds to import: loaded by the training job that needs it, not by every
    # process that starts the API or the CLI.
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import TimeSeriesSplit

    layout = _layout(rows)
    design, target = _design(rows, layout), np.asarray(outcomes, dtype=int)
    if c is None:
        fitted: Any = LogisticRegressionCV(
            Cs=_CANDIDATE_C,
            cv=TimeSeriesSplit(n_splits=4),
            scoring="neg_log_loss",
            max_iter=2000,
            l1_ratios=(0.0,),  # plain L2
            use_legacy_attributes=False,
        ).fit(design, target)
        c = float(np.ravel(fitted.C_)[0])
    else:
        fitted = LogisticRegression(C=c, max_iter=2000).fit(design, target)
    return _with_weights(layout, fitted), c


def train_models(rows: Sequence[LabelledSnapshot], cut: datetime) -> TrainedModels:
    """Both models on the deals closed before `cut`, judged on those closed on or after it."""
    ordered = sorted(rows, key=lambda row: row.closed_at)
    train = [row for row in ordered if row.closed_at < cut]
    holdout = [row for row in ordered if row.closed_at >= cut]
    train_features = [features(row.snapshot) for row in train]
    train_outcomes = [row.won for row in train]
    holdout_features = [features(row.snapshot) for row in holdout]
    holdout_outcomes = [row.won for row in holdout]

    logistic, c = fit_logistic(train_features, train_outcomes)
    baseline = NaiveBayes.fit(train_features, train_outcomes)
    base_rate = sum(train_outcomes) / len(train_outcomes)
    judged = {
        ModelKind.logistic_regression: scores(
            [logistic.predict(f).probability for f in holdout_features], holdout_outcomes
        ),
        ModelKind.naive_bayes: scores(
            [baseline.predict(f).probability for f in holdout_features], holdout_outcomes
        ),
    }
    chosen = min(judged, key=lambda kind: judged[kind]["log_loss"])
    base = scores([base_rate] * len(holdout), holdout_outcomes)
    signal = _signal(judged[chosen], base, holdout_outcomes)

    every_feature = train_features + holdout_features
    every_outcome = train_outcomes + holdout_outcomes
    final_baseline = NaiveBayes.fit(every_feature, every_outcome).to_json()
    final_model = (
        fit_logistic(every_feature, every_outcome, c)[0].to_json()
        if chosen is ModelKind.logistic_regression
        else final_baseline
    )
    metrics = {
        "cut_at": cut.isoformat(),
        "rows": {
            "train": len(train),
            "train_won": sum(train_outcomes),
            "holdout": len(holdout),
            "holdout_won": sum(holdout_outcomes),
        },
        "base_rate": {"win_rate": base_rate, "brier": base["brier"], "log_loss": base["log_loss"]},
        "models": {kind.value: result for kind, result in judged.items()},
        "regularisation_c": c,
    }
    return TrainedModels(chosen, signal, final_model, final_baseline, metrics)


def _signal(chosen: dict[str, Any], base: dict[str, Any], outcomes: Sequence[bool]) -> str:
    """Usable only when the holdout AUC is above 0.5 by more than its standard error allows (95 %)
    and the model's Brier score beats always answering the training win rate."""
    area = chosen["auc"]
    if area is None:
        return "none"
    positives = sum(outcomes)
    margin = 1.96 * auc_standard_error(area, positives, len(outcomes) - positives)
    return "usable" if area - margin > 0.5 and chosen["brier"] < base["brier"] else "none"
