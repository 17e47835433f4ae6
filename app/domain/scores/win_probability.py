"""Win probability: what is known about a deal at one instant, the features read from it, and the
stored models that turn them into a probability with its explanation, in pure Python.

Both models are additive in log-odds: a logistic regression (intercept plus one term per feature)
and the Odoo-style naive Bayes baseline (prior log-odds plus one likelihood ratio per field). So a
prediction's explanation is exact: the intercept and the contributions sum to its logit. A stored
model is data (JSON), never code, so loading one cannot execute anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

# Fewer closed deals than this and no model is trained: the stage's probability answers.
MIN_CLOSED_DEALS = 200
# "Never" (no effective activity yet) reads as this many days, the far end of what matters.
NEVER_DAYS = 365.0


class ProbabilitySource(StrEnum):
    model = "model"
    stage_default = "stage_default"
    manual = "manual"


class ModelKind(StrEnum):
    logistic_regression = "logistic_regression"
    naive_bayes = "naive_bayes"


@dataclass(frozen=True)
class DealSnapshot:
    """A deal as it was known at one instant (`as of`). It has, on purpose, no field the outcome
    sets: no status, no close date, no cycle length, no amount it closed with. The amount is the one
    recorded when the deal entered the stage it was in at that instant (an import's closed deal has
    none: the source's figure is the close value)."""

    stage: str
    product: str | None
    source: str | None
    industry: str | None
    amount: Decimal | None
    days_in_stage: float
    days_in_previous_stage: float | None
    deal_age_days: float
    activities_14d: int
    activities_60d: int
    days_since_effective_activity: float | None
    # The owner's deals closed before the instant: won and closed.
    owner_won_before: int
    owner_closed_before: int


CATEGORICAL_FEATURES = ("stage", "product", "source", "industry", "amount_band")
NUMERIC_FEATURES = (
    "days_in_stage",
    "days_in_previous_stage",
    "deal_age_days",
    "activities_14d",
    "activities_60d",
    "days_since_effective_activity",
    "owner_win_rate",
)
FEATURE_NAMES = CATEGORICAL_FEATURES + NUMERIC_FEATURES
_AMOUNT_BANDS = ((Decimal(1_000), "<1k"), (Decimal(10_000), "1k-10k"), (Decimal(100_000), "10k-100k"))
_AMOUNT_BANDS_TOP = ((Decimal(1_000_000), "100k-1M"),)


def amount_band(amount: Decimal | None) -> str:
    if amount is None:
        return "unknown"
    for limit, band in _AMOUNT_BANDS + _AMOUNT_BANDS_TOP:
        if amount < limit:
            return band
    return ">=1M"


def owner_win_rate(won: int, closed: int) -> float:
    """Laplace-smoothed: an owner without history reads as even, one with a few deals not as 0 or 1."""
    return (won + 1) / (closed + 2)


@dataclass(frozen=True)
class Features:
    categorical: dict[str, str]
    # Raw values (days, counts, a rate) as shown to a rep; models read them through `scaled_input`.
    numeric: dict[str, float]


def features(snapshot: DealSnapshot) -> Features:
    """The model's inputs, from the snapshot alone."""
    return Features(
        categorical={
            "stage": snapshot.stage,
            "product": snapshot.product or "none",
            "source": snapshot.source or "none",
            "industry": snapshot.industry or "none",
            "amount_band": amount_band(snapshot.amount),
        },
        numeric={
            "days_in_stage": snapshot.days_in_stage,
            "days_in_previous_stage": snapshot.days_in_previous_stage or 0.0,
            "deal_age_days": snapshot.deal_age_days,
            "activities_14d": float(snapshot.activities_14d),
            "activities_60d": float(snapshot.activities_60d),
            "days_since_effective_activity": min(
                snapshot.days_since_effective_activity
                if snapshot.days_since_effective_activity is not None
                else NEVER_DAYS,
                NEVER_DAYS,
            ),
            "owner_win_rate": owner_win_rate(snapshot.owner_won_before, snapshot.owner_closed_before),
        },
    )


def model_input(name: str, value: float) -> float:
    """Days and counts are read on a log scale (the first week of silence matters more than the
    tenth); a rate as it is."""
    return value if name == "owner_win_rate" else math.log1p(max(value, 0.0))


@dataclass(frozen=True)
class Contribution:
    name: str
    value: str | float
    contribution: float  # in log-odds


@dataclass(frozen=True)
class Prediction:
    probability: float  # 0..1
    intercept: float
    contributions: tuple[Contribution, ...]

    @property
    def logit(self) -> float:
        return self.intercept + sum(c.contribution for c in self.contributions)

    def factors(self, limit: int) -> tuple[list[Contribution], list[Contribution]]:
        """The strongest contributions up and down, strongest first."""
        ordered = sorted(self.contributions, key=lambda c: c.contribution)
        up = [c for c in reversed(ordered) if c.contribution > 0][:limit]
        down = [c for c in ordered if c.contribution < 0][:limit]
        return up, down


def sigmoid(logit: float) -> float:
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-logit))
    exp = math.exp(logit)
    return exp / (1.0 + exp)


def predict(model: Mapping[str, Any], feature_values: Features) -> Prediction:
    """Applies a stored model (`LinearModel.to_json` or `NaiveBayes.to_json`) to one deal."""
    kind = ModelKind(model["kind"])
    return (
        (LinearModel if kind is ModelKind.logistic_regression else NaiveBayes)
        .from_json(model)
        .predict(feature_values)
    )


@dataclass(frozen=True)
class NumericTerm:
    mean: float
    scale: float
    coefficient: float


@dataclass(frozen=True)
class LinearModel:
    """Logistic regression over one-hot categories and standardised numbers. A category level the
    training never saw contributes nothing."""

    intercept: float
    numeric: dict[str, NumericTerm]
    categorical: dict[str, dict[str, float]]

    def predict(self, values: Features) -> Prediction:
        contributions = [
            Contribution(
                name,
                value,
                term.coefficient * (model_input(name, value) - term.mean) / term.scale,
            )
            for name, value in values.numeric.items()
            if (term := self.numeric.get(name)) is not None
        ]
        contributions += [
            Contribution(name, level, self.categorical.get(name, {}).get(level, 0.0))
            for name, level in values.categorical.items()
        ]
        prediction = Prediction(0.0, self.intercept, tuple(contributions))
        return Prediction(sigmoid(prediction.logit), self.intercept, prediction.contributions)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": ModelKind.logistic_regression.value,
            "intercept": self.intercept,
            "numeric": {
                name: {"mean": t.mean, "scale": t.scale, "coefficient": t.coefficient}
                for name, t in self.numeric.items()
            },
            "categorical": self.categorical,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinearModel:
        return cls(
            intercept=float(data["intercept"]),
            numeric={
                name: NumericTerm(float(t["mean"]), float(t["scale"]), float(t["coefficient"]))
                for name, t in data["numeric"].items()
            },
            categorical={
                name: {level: float(weight) for level, weight in levels.items()}
                for name, levels in data["categorical"].items()
            },
        )


@dataclass(frozen=True)
class NaiveBayes:
    """Odoo's predictive lead scoring: won and lost frequency tables per field value, Laplace
    smoothed (one extra count per value, and one value for any the tables never saw)."""

    won: int
    lost: int
    # field -> level -> [won count, lost count]
    tables: dict[str, dict[str, list[int]]]

    @classmethod
    def fit(cls, rows: Sequence[Features], outcomes: Sequence[bool]) -> NaiveBayes:
        tables: dict[str, dict[str, list[int]]] = {name: {} for name in CATEGORICAL_FEATURES}
        for values, won in zip(rows, outcomes, strict=True):
            for name, level in values.categorical.items():
                counts = tables[name].setdefault(level, [0, 0])
                counts[0 if won else 1] += 1
        won_total = sum(outcomes)
        return cls(won=won_total, lost=len(outcomes) - won_total, tables=tables)

    def predict(self, values: Features) -> Prediction:
        intercept = math.log((self.won + 1) / (self.lost + 1))
        contributions = []
        for name, level in values.categorical.items():
            table = self.tables.get(name, {})
            levels = len(table) + 1
            won, lost = table.get(level, [0, 0])
            ratio = ((won + 1) / (self.won + levels)) / ((lost + 1) / (self.lost + levels))
            contributions.append(Contribution(name, level, math.log(ratio)))
        prediction = Prediction(0.0, intercept, tuple(contributions))
        return Prediction(sigmoid(prediction.logit), intercept, prediction.contributions)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": ModelKind.naive_bayes.value,
            "won": self.won,
            "lost": self.lost,
            "tables": self.tables,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NaiveBayes:
        return cls(won=int(data["won"]), lost=int(data["lost"]), tables=data["tables"])
