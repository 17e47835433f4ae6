"""Win probability in pure Python: the snapshot cannot carry an outcome, explanations add up to the
logit, naive Bayes follows Odoo's counting, and the metrics match hand computations."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.domain.scores.win_probability import (
    FEATURE_NAMES,
    DealSnapshot,
    LinearModel,
    NaiveBayes,
    amount_band,
    features,
    predict,
)
from app.domain.scores.win_training import (
    LabelledSnapshot,
    auc,
    brier,
    calibration_table,
    expected_calibration_error,
    log_loss,
    train_models,
)

# What only the close tells: none of it may be a field of what a model reads.
OUTCOME_ONLY = {
    "status",
    "won",
    "lost",
    "closed_at",
    "closed_on",
    "close_value",
    "close_amount",
    "cycle_days",
    "cycle_length",
    "lose_reason",
    "outcome",
}


def snapshot(**changes: object) -> DealSnapshot:
    values: dict[str, object] = {
        "stage": "需求确认",
        "product": "GTX",
        "source": "exhibition",
        "industry": "medical",
        "amount": Decimal("25000"),
        "days_in_stage": 3.0,
        "days_in_previous_stage": 12.0,
        "deal_age_days": 15.0,
        "activities_14d": 2,
        "activities_60d": 5,
        "days_since_effective_activity": 4.0,
        "owner_won_before": 7,
        "owner_closed_before": 10,
    }
    return DealSnapshot(**{**values, **changes})  # type: ignore[arg-type]


def test_the_snapshot_and_the_features_have_no_outcome_only_field():
    snapshot_fields = {f.name for f in dataclasses.fields(DealSnapshot)}
    assert snapshot_fields == {
        "stage",
        "product",
        "source",
        "industry",
        "amount",
        "days_in_stage",
        "days_in_previous_stage",
        "deal_age_days",
        "activities_14d",
        "activities_60d",
        "days_since_effective_activity",
        "owner_won_before",
        "owner_closed_before",
    }
    assert not snapshot_fields & OUTCOME_ONLY
    assert FEATURE_NAMES == (
        "stage",
        "product",
        "source",
        "industry",
        "amount_band",
        "days_in_stage",
        "days_in_previous_stage",
        "deal_age_days",
        "activities_14d",
        "activities_60d",
        "days_since_effective_activity",
        "owner_win_rate",
    )
    built = features(snapshot())
    assert set(built.categorical) | set(built.numeric) == set(FEATURE_NAMES)
    with pytest.raises(TypeError):
        snapshot(status="won")


def test_features_read_missing_values_as_documented():
    built = features(
        snapshot(
            amount=None,
            product=None,
            days_since_effective_activity=None,
            days_in_previous_stage=None,
            owner_won_before=0,
            owner_closed_before=0,
        )
    )
    assert built.categorical["amount_band"] == "unknown"
    assert built.categorical["product"] == "none"
    assert built.numeric["days_since_effective_activity"] == 365.0
    assert built.numeric["days_in_previous_stage"] == 0.0
    assert built.numeric["owner_win_rate"] == 0.5  # Laplace: (0 + 1) / (0 + 2)
    assert features(snapshot()).numeric["owner_win_rate"] == pytest.approx(8 / 12)
    assert [amount_band(Decimal(v)) for v in (999, 1000, 99_999, 100_000, 2_000_000)] == [
        "<1k",
        "1k-10k",
        "10k-100k",
        "100k-1M",
        ">=1M",
    ]


def test_a_linear_prediction_is_its_intercept_plus_its_contributions():
    model = LinearModel.from_json(
        {
            "kind": "logistic_regression",
            "intercept": -0.4,
            "numeric": {
                "days_since_effective_activity": {"mean": 1.5, "scale": 0.5, "coefficient": -0.8},
                "owner_win_rate": {"mean": 0.5, "scale": 0.1, "coefficient": 0.3},
            },
            "categorical": {"stage": {"需求确认": 0.25, "触达": -0.1}, "industry": {"retail": 0.2}},
        }
    )
    prediction = predict(model.to_json(), features(snapshot()))
    by_name = {c.name: c.contribution for c in prediction.contributions}
    # Hand computation: log1p(4) = 1.6094; (1.6094 - 1.5) / 0.5 * -0.8 = -0.1751.
    assert by_name["days_since_effective_activity"] == pytest.approx((math.log1p(4) - 1.5) / 0.5 * -0.8)
    assert by_name["owner_win_rate"] == pytest.approx((8 / 12 - 0.5) / 0.1 * 0.3)
    assert by_name["stage"] == 0.25
    assert by_name["industry"] == 0.0  # a level training never saw adds nothing
    logit = -0.4 + sum(by_name.values())
    assert prediction.logit == pytest.approx(logit)
    assert prediction.probability == pytest.approx(1 / (1 + math.exp(-logit)))
    up, down = prediction.factors(5)
    assert [c.name for c in up] == ["owner_win_rate", "stage"]
    assert [c.name for c in down] == ["days_since_effective_activity"]


def test_naive_bayes_counts_won_and_lost_per_value_with_laplace_smoothing():
    rows = [features(snapshot(stage="A")), features(snapshot(stage="A")), features(snapshot(stage="B"))]
    model = NaiveBayes.fit(rows, [True, False, False])
    prediction = model.predict(features(snapshot(stage="A")))
    stage = next(c for c in prediction.contributions if c.name == "stage")
    # stage: two values + one unseen = 3; P(A|won) = (1+1)/(1+3), P(A|lost) = (1+1)/(2+3).
    assert stage.contribution == pytest.approx(math.log((2 / 4) / (2 / 5)))
    assert prediction.intercept == pytest.approx(math.log(2 / 3))  # (1 won + 1) / (2 lost + 1)
    assert prediction.logit == pytest.approx(
        prediction.intercept + sum(c.contribution for c in prediction.contributions)
    )
    assert NaiveBayes.from_json(model.to_json()) == model


def test_metrics_against_hand_computed_values():
    probabilities, outcomes = [0.9, 0.8, 0.3, 0.3, 0.1], [True, False, True, False, False]
    # Won 0.9 beats the three lost; won 0.3 beats 0.1 and ties 0.3 (half): 4.5 of 6 pairs.
    assert auc(probabilities, outcomes) == pytest.approx(4.5 / 6)
    assert auc([0.5, 0.6], [True, True]) is None
    assert brier(probabilities, outcomes) == pytest.approx((0.01 + 0.64 + 0.49 + 0.09 + 0.01) / 5)
    assert log_loss([0.5], [True]) == pytest.approx(math.log(2))
    table = calibration_table(probabilities, outcomes)
    assert len(table) == 10
    assert sum(row["count"] for row in table) == 5
    assert table[3] == {
        "lower": 0.3,
        "upper": 0.4,
        "count": 2,
        "mean_predicted": 0.3,
        "observed_win_rate": 0.5,
    }
    assert expected_calibration_error(table) == pytest.approx((0.1 * 1 + 2 * abs(0.3 - 0.5) + 0.8 + 0.1) / 5)


def test_training_on_rows_without_signal_says_so_and_stays_near_the_base_rate():
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [
        LabelledSnapshot(
            snapshot(industry=("a", "b", "c")[n % 3]), won=n % 5 < 2, closed_at=start + timedelta(days=n)
        )
        for n in range(400)
    ]
    trained = train_models(rows, start + timedelta(days=300))
    assert trained.signal == "none"
    assert trained.metrics["rows"] == {"train": 300, "train_won": 120, "holdout": 100, "holdout_won": 40}
    chosen = trained.metrics["models"][trained.chosen.value]
    assert chosen["brier"] <= trained.metrics["base_rate"]["brier"] + 0.005
