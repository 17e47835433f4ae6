"""The lead intent score against hand-computed values: each signal's points, and a breakdown that sums
to the score (docs/scoring.md#lead-intent-score)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.organization.organization_settings import patched_settings
from app.domain.organization.policy import policy_from_settings
from app.domain.platform.errors import InvalidInput
from app.domain.scores.lead_intent import IntentInputs, IntentPolicy, Signal, score_lead

DEFAULT = IntentPolicy()


def _points(inputs: IntentInputs, policy: IntentPolicy = DEFAULT) -> dict[str, int]:
    return {item.signal.value: item.points for item in score_lead(inputs, policy).breakdown}


def test_a_new_lead_without_budget_scores_only_its_neutral_source():
    result = score_lead(IntentInputs.of_new_lead("web_form", budget_known=False), DEFAULT)

    assert result.score == 5
    assert _points(IntentInputs.of_new_lead("web_form", budget_known=False)) == {
        "contact_frequency": 0,
        "temperature": 0,
        "meeting_attendance": 0,
        "budget_known": 0,
        "timeframe_known": 0,
        "source_quality": 5,
    }


def test_the_worked_example_of_docs_scoring():
    # 3 of 5 activities: 25 * 0.6 = 15; temperature 12 of 30: 25 * 0.4 = 10; 1 of 2 meetings:
    # 20 * 0.5 = 10; budget known 10; timeframe unknown 0; exhibition rated 0.8: 10 * 0.8 = 8.
    policy = _intent_policy({"lead_intent": {"source_quality": {"exhibition": 0.8}}})
    inputs = IntentInputs(3, 12.0, 1, True, False, "exhibition")

    result = score_lead(inputs, policy)

    assert result.score == 53
    assert _points(inputs, policy) == {
        "contact_frequency": 15,
        "temperature": 10,
        "meeting_attendance": 10,
        "budget_known": 10,
        "timeframe_known": 0,
        "source_quality": 8,
    }
    reasons = {item.signal: item.reason for item in result.breakdown}
    assert reasons[Signal.contact_frequency] == "3 activities in the last 30 days; 5 or more score in full."
    assert reasons[Signal.budget_known] == "The budget is known."


def test_everything_in_full_scores_100_and_signals_saturate():
    inputs = IntentInputs(40, 500.0, 9, True, True, "referral")
    policy = _intent_policy({"lead_intent": {"source_quality": {"referral": 1}}})

    assert score_lead(inputs, policy).score == 100


def test_weights_are_shares_of_100():
    # Only contact frequency and budget weigh, equally: each is worth 50 points.
    policy = _intent_policy(
        {
            "lead_intent": {
                "weights": {
                    "contact_frequency": 1,
                    "budget_known": 1,
                    "temperature": 0,
                    "meeting_attendance": 0,
                    "timeframe_known": 0,
                    "source_quality": 0,
                }
            }
        }
    )
    inputs = IntentInputs(1, 0.0, 0, True, False, "api")

    result = score_lead(inputs, policy)

    assert result.score == 60  # 50 * 1/5 + 50
    assert {item.signal: item.weight for item in result.breakdown}[Signal.budget_known] == 50.0


def test_whole_points_are_shared_by_largest_remainder():
    # Three equal weights earn 33 1/3 points each in full: 33 + 33 + 34 make the 100.
    weights = {signal.value: (1 if index < 3 else 0) for index, signal in enumerate(Signal)}
    policy = _intent_policy({"lead_intent": {"weights": weights, "hot_temperature": 30}})
    inputs = IntentInputs(activities_in_window=5, temperature=30.0, meetings_attended=2, **_nothing_else())

    result = score_lead(inputs, policy)

    assert result.score == 100
    assert sorted(item.points for item in result.breakdown if item.points) == [33, 33, 34]


def _nothing_else() -> dict[str, object]:
    return {"budget_known": False, "timeframe_known": False, "source": "api"}


@given(
    contacts=st.integers(0, 50),
    temperature=st.floats(0, 200, allow_nan=False),
    meetings=st.integers(0, 5),
    budget=st.booleans(),
    timeframe=st.booleans(),
    weights=st.lists(st.floats(0, 100, allow_nan=False), min_size=6, max_size=6),
)
def test_the_breakdown_always_sums_to_a_score_within_0_and_100(
    contacts: int, temperature: float, meetings: int, budget: bool, timeframe: bool, weights: list[float]
) -> None:
    policy = IntentPolicy(weights=dict(zip(Signal, weights, strict=True)))
    result = score_lead(IntentInputs(contacts, temperature, meetings, budget, timeframe, "ad"), policy)

    assert sum(item.points for item in result.breakdown) == result.score
    assert 0 <= result.score <= 100
    assert all(item.points >= 0 for item in result.breakdown)


@pytest.mark.parametrize(
    "scoring",
    [
        {"lead_intent": {"weights": {"charisma": 5}}},
        {"lead_intent": {"weights": {"temperature": -1}}},
        {"lead_intent": {"source_quality": {"ad": 1.5}}},
        {"lead_intent": {"source_quality": {"billboard": 0.5}}},
        {"lead_intent": {"contact_window_days": 2.5}},
        {"lead_intent": {"contacts_for_full": 0}},
        {"lead_intent": {"colour": "red"}},
        {"temperature": {"half_life_days": 0}},
        {"temperature": {"weights": {"fax_sent": 1}}},
        {"temperature": {"weights": {"email_open": True}}},
        "hot",
    ],
)
def test_settings_it_cannot_read_are_refused(scoring: object) -> None:
    with pytest.raises(InvalidInput):
        patched_settings({}, {"scoring": scoring})


def test_settings_override_the_defaults_and_keep_the_rest():
    policy = policy_from_settings(
        {"scoring": {"temperature": {"half_life_days": 7, "weights": {"email_open": 2}}}}
    )

    assert policy.temperature.half_life_days == 7.0
    assert policy.temperature.weights["email_open"] == 2.0
    assert policy.temperature.weights["meeting_attended"] == 15.0
    assert policy.lead_intent == IntentPolicy()


def _intent_policy(scoring: dict) -> IntentPolicy:
    return policy_from_settings({"scoring": scoring}).lead_intent
