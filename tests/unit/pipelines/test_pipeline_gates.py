"""Pipeline stages as pure functions: entry gates, move kinds, activity ordering, validation, action packs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.domain.activities.activities import ActivityType
from app.domain.organization.policy import policy_from_settings
from app.domain.pipelines.pipelines import (
    B2B_TEMPLATE,
    DEFAULT_ORDERING_RULES,
    PROJECT_SALES_TEMPLATE,
    TEMPLATES,
    ActionSpec,
    ActivityEvidence,
    AttachmentEvidence,
    EvidenceKind,
    EvidenceRequirement,
    InfoPointsEvidence,
    LeadWork,
    Move,
    NotesEvidence,
    OrderingMode,
    OrderingRule,
    StageEvidence,
    StageKind,
    StageSpec,
    Unmet,
    classify_move,
    ordering_violations,
    parse_ordering_rules,
    parse_stages,
    task_due_dates,
    unmet_requirements,
)
from app.domain.platform.errors import InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")
FILLED = {
    "amount": 600000,
    "expected_close_date": "2026-12-31",
    "contact_id": "7d1f0c5e-0000-4000-8000-000000000001",
    "product_lines": ["防水材料"],
    "description": "上海申华建材 屋面防水改造",
    "competitors": ["东方雨虹"],
    "decision_process": "工程部评估，总经理拍板",
}


def gate(*requirements: EvidenceRequirement, fields: tuple[str, ...] = ()) -> StageSpec:
    return StageSpec(
        name="方案呈现",
        kind=StageKind.open,
        probability=50,
        required_fields=fields,
        required_evidence=requirements,
    )


def errors_of(raised: pytest.ExceptionInfo[InvalidInput]) -> set[tuple[str, str]]:
    return {(error.field, error.code) for error in raised.value.errors}


def valid_stages() -> list[dict[str, Any]]:
    return [stage.model_dump(mode="json") for stage in B2B_TEMPLATE]


DEMO_OR_MEETING = ActivityEvidence(
    kind=EvidenceKind.activity, activity_types=(ActivityType.demo, ActivityType.meeting)
)


def test_activity_evidence_counts_only_the_listed_types() -> None:
    calls_only = StageEvidence(activity_types=(ActivityType.call, ActivityType.call))

    assert unmet_requirements(gate(DEMO_OR_MEETING), FILLED, calls_only) == [
        Unmet(
            "stage.evidence_activity",
            "evidence[0]",
            "needs 1 activity of type demo or meeting in this stage; found 0",
        )
    ]
    with_meeting = StageEvidence(activity_types=(ActivityType.call, ActivityType.meeting))
    assert unmet_requirements(gate(DEMO_OR_MEETING), FILLED, with_meeting) == []


def test_activity_evidence_without_types_counts_any_activity() -> None:
    two_of_any = ActivityEvidence(kind=EvidenceKind.activity, min_count=2)

    [unmet] = unmet_requirements(gate(two_of_any), FILLED, StageEvidence(activity_types=(ActivityType.note,)))
    assert unmet.message == "needs 2 activities of any type in this stage; found 1"
    enough = StageEvidence(activity_types=(ActivityType.note, ActivityType.email))
    assert unmet_requirements(gate(two_of_any), FILLED, enough) == []


def test_attachment_evidence() -> None:
    proposal = AttachmentEvidence(kind=EvidenceKind.attachment, min_count=2)

    [unmet] = unmet_requirements(gate(proposal), FILLED, StageEvidence(attachment_count=1))
    assert (unmet.code, unmet.field) == ("stage.evidence_attachment", "evidence[0]")
    assert unmet.message == (
        "needs 2 attachments in this stage (uploaded to the deal or one of its activities, or sent with "
        "the change); found 1"
    )
    assert unmet_requirements(gate(proposal), FILLED, StageEvidence(attachment_count=2)) == []


def test_notes_evidence_uses_the_longest_note() -> None:
    needs_list = NotesEvidence(kind=EvidenceKind.notes, min_chars=30)

    [unmet] = unmet_requirements(gate(needs_list), FILLED, StageEvidence(longest_note_chars=29))
    assert (unmet.code, unmet.field) == ("stage.evidence_notes", "evidence[0]")
    assert unmet.message == "needs a note of at least 30 characters in this stage; the longest has 29"
    assert unmet_requirements(gate(needs_list), FILLED, StageEvidence(longest_note_chars=30)) == []


def test_info_points_evidence_counts_distinct_known_points() -> None:
    three_points = InfoPointsEvidence(kind=EvidenceKind.info_points, min_count=3)
    # The API only accepts known info points; anything else is not something the rep learned.
    two_known = StageEvidence(info_points=frozenset({"needs", "budget", "favourite_colour"}))

    [unmet] = unmet_requirements(gate(three_points), FILLED, two_known)
    assert (unmet.code, unmet.field) == ("stage.evidence_info_points", "evidence[0]")
    assert unmet.message == "needs 3 distinct info points collected in this stage; found 2 (budget, needs)"
    three_known = StageEvidence(info_points=frozenset({"needs", "budget", "decision_maker"}))
    assert unmet_requirements(gate(three_points), FILLED, three_known) == []


def test_a_converted_deals_evidence_message_says_whether_its_leads_activities_counted() -> None:
    three_points = InfoPointsEvidence(kind=EvidenceKind.info_points, min_count=3)
    one_point = frozenset({"needs"})

    [counted] = unmet_requirements(
        gate(three_points), FILLED, StageEvidence(info_points=one_point, lead_work=LeadWork.counted)
    )
    [past] = unmet_requirements(
        gate(three_points), FILLED, StageEvidence(info_points=one_point, lead_work=LeadWork.past)
    )
    [no_lead] = unmet_requirements(gate(three_points), FILLED, StageEvidence(info_points=one_point))

    shortfall = "needs 3 distinct info points collected in this stage; found 1 (needs)"
    assert counted.message == f"{shortfall}; its lead's activities count too, in the deal's first stage"
    assert past.message == f"{shortfall}; its lead's activities counted only in the deal's first stage"
    assert no_lead.message == shortfall


def test_every_unmet_requirement_is_reported_in_one_call() -> None:
    target = gate(
        DEMO_OR_MEETING,
        NotesEvidence(kind=EvidenceKind.notes, min_chars=50),
        InfoPointsEvidence(kind=EvidenceKind.info_points, min_count=3),
        fields=("amount", "contact_id", "description"),
    )
    fields = {**FILLED, "amount": None, "description": "  "}

    unmet = unmet_requirements(target, fields, StageEvidence(longest_note_chars=51))

    assert [(u.code, u.field) for u in unmet] == [
        ("stage.field_missing", "amount"),
        ("stage.field_missing", "description"),
        ("stage.evidence_activity", "evidence[0]"),
        ("stage.evidence_info_points", "evidence[2]"),
    ]
    assert unmet[0].message == "needs amount filled in to enter 方案呈现; it is not set"
    assert unmet[1].message == "needs description filled in to enter 方案呈现; it is blank"


@pytest.mark.parametrize(
    ("value", "found"),
    [
        (None, "it is not set"),
        ("", "it is blank"),
        ("   ", "it is blank"),
        ([], "it is empty"),
        ({}, "it is empty"),
    ],
)
def test_required_field_empty_values(value: Any, found: str) -> None:
    target = gate(fields=("product_lines",))

    assert unmet_requirements(target, {**FILLED, "product_lines": value}, StageEvidence()) == [
        Unmet(
            "stage.field_missing",
            "product_lines",
            f"needs product_lines filled in to enter 方案呈现; {found}",
        )
    ]


def test_required_field_absent_from_the_opportunity_is_missing() -> None:
    fields = {key: value for key, value in FILLED.items() if key != "contact_id"}

    [unmet] = unmet_requirements(gate(fields=("contact_id",)), fields, StageEvidence())
    assert unmet.field == "contact_id"
    assert unmet.message == "needs contact_id filled in to enter 方案呈现; it is not set"


@pytest.mark.parametrize("value", [0, ["防水材料"], {"a": 1}, "x", False])
def test_required_field_with_a_value_counts_as_filled(value: Any) -> None:
    assert unmet_requirements(gate(fields=("amount",)), {"amount": value}, StageEvidence()) == []


@pytest.mark.parametrize(
    ("from_index", "to_index", "move"),
    [
        (0, 1, Move.forward),
        (2, 3, Move.forward),
        (0, 2, Move.skip),
        (1, 3, Move.skip),
        (3, 1, Move.backward),
        (1, 0, Move.backward),
        (0, 4, Move.close),  # 触达 -> 赢单: closing is allowed from any open stage
        (3, 4, Move.close),
        (1, 5, Move.close),
        (5, 2, Move.backward),  # reopening a lost deal
    ],
)
def test_classify_move(from_index: int, to_index: int, move: Move) -> None:
    assert classify_move(B2B_TEMPLATE, from_index, to_index) is move


def test_classify_move_to_the_same_stage_is_an_error() -> None:
    with pytest.raises(ValueError, match="stage it is in"):
        classify_move(B2B_TEMPLATE, 2, 2)


def test_quote_before_any_demo_is_flagged() -> None:
    violations = ordering_violations(
        DEFAULT_ORDERING_RULES, [ActivityType.call, ActivityType.visit], ActivityType.quote_sent
    )

    assert violations == [
        OrderingRule(first=ActivityType.demo, then=ActivityType.quote_sent, mode=OrderingMode.flag)
    ]


def test_quote_after_a_demo_and_other_types_break_no_rule() -> None:
    earlier = [ActivityType.call, ActivityType.demo]

    assert ordering_violations(DEFAULT_ORDERING_RULES, earlier, ActivityType.quote_sent) == []
    assert ordering_violations(DEFAULT_ORDERING_RULES, [], ActivityType.demo) == []


def test_parse_stages_accepts_and_returns_stages() -> None:
    raw = [
        {"name": " 触达 ", "kind": "open", "probability": 10},
        {
            "name": "报价",
            "kind": "open",
            "probability": 60,
            "required_fields": ["amount"],
            "required_evidence": [{"kind": "activity", "activity_types": ["demo"]}],
            "max_dwell_hours": None,
            "actions": [{"title": "满意度回访", "due_after_business_hours": 72}],
        },
        {"name": "赢单", "kind": "won", "probability": 100},
        {"name": "输单", "kind": "lost", "probability": 0},
    ]

    stages = parse_stages(raw)

    assert stages[0] == StageSpec(name="触达", kind=StageKind.open, probability=10)
    assert stages[1] == StageSpec(
        name="报价",
        kind=StageKind.open,
        probability=60,
        required_fields=("amount",),
        required_evidence=(
            ActivityEvidence(kind=EvidenceKind.activity, min_count=1, activity_types=(ActivityType.demo,)),
        ),
        actions=(ActionSpec(title="满意度回访", due_after_business_hours=72),),
    )
    assert [s.kind for s in stages[2:]] == [StageKind.won, StageKind.lost]


def test_parse_stages_collects_every_problem_with_its_path() -> None:
    raw = valid_stages()
    raw[1]["colour"] = "red"
    raw[2]["probability"] = 140
    raw[3]["name"] = "需求确认"
    raw[3]["required_fields"] = ["amount", "budget"]
    raw[5]["kind"] = "won"
    raw[5]["probability"] = 100
    raw.append({"name": "复活", "kind": "open", "probability": 5})

    with pytest.raises(InvalidInput) as raised:
        parse_stages(raw)

    assert raised.value.code == "pipeline.invalid"
    assert errors_of(raised) == {
        ("stages[1].colour", "extra_forbidden"),
        ("stages[2].probability", "value.out_of_range"),
        ("stages[3].name", "name.duplicate"),
        ("stages[3].required_fields[1]", "field.unknown"),
        ("stages[5].kind", "stages.won_duplicate"),
        ("stages", "stages.lost_missing"),
        ("stages[6].kind", "stages.order"),
    }
    messages = {error.field: error.message for error in raised.value.errors}
    assert messages["stages[2].probability"] == "must be from 0 to 100; got 140"
    assert messages["stages[3].name"] == "'需求确认' is already the name of stages[1]"
    assert "'budget' is not an opportunity field" in messages["stages[3].required_fields[1]"]
    assert "stages[4] '赢单' is already won" in messages["stages[5].kind"]
    assert "open stage '复活' comes after the closed stage '赢单'" in messages["stages[6].kind"]


def test_parse_stages_names_are_unique_ignoring_case() -> None:
    raw = [
        {"name": "Discovery", "kind": "open", "probability": 10},
        {"name": "DISCOVERY", "kind": "open", "probability": 20},
        {"name": "Won", "kind": "won", "probability": 100},
        {"name": "Lost", "kind": "lost", "probability": 0},
    ]

    with pytest.raises(InvalidInput) as raised:
        parse_stages(raw)

    assert errors_of(raised) == {("stages[1].name", "name.duplicate")}


def test_parse_stages_closed_probabilities_are_fixed() -> None:
    raw = valid_stages()
    raw[4]["probability"] = 90
    raw[5]["probability"] = 5

    with pytest.raises(InvalidInput) as raised:
        parse_stages(raw)

    assert errors_of(raised) == {
        ("stages[4].probability", "probability.mismatch"),
        ("stages[5].probability", "probability.mismatch"),
    }
    messages = [error.message for error in raised.value.errors]
    assert messages == ["a won stage has probability 100; got 90", "a lost stage has probability 0; got 5"]


def test_parse_stages_checks_evidence_and_actions() -> None:
    raw = valid_stages()
    raw[1]["required_evidence"] = [
        {"kind": "photos"},
        {"kind": "notes"},
        {"kind": "notes", "min_chars": 6000, "min_count": 2},
        {"kind": "activity", "min_count": 0, "activity_types": ["demo", "lunch"]},
        {"kind": "info_points", "min_count": 6},
    ]
    raw[2]["max_dwell_hours"] = 0
    raw[3]["actions"] = [{"title": "", "due_after_business_hours": 2001}] + [
        {"title": f"任务{i}", "due_after_business_hours": 8} for i in range(2)
    ]

    with pytest.raises(InvalidInput) as raised:
        parse_stages(raw)

    assert errors_of(raised) == {
        ("stages[1].required_evidence[0].kind", "kind.unknown"),
        ("stages[1].required_evidence[1].min_chars", "missing"),
        ("stages[1].required_evidence[2].min_count", "field.not_applicable"),
        ("stages[1].required_evidence[2].min_chars", "value.out_of_range"),
        ("stages[1].required_evidence[3].min_count", "value.out_of_range"),
        ("stages[1].required_evidence[3].activity_types[1]", "activity_type.unknown"),
        ("stages[1].required_evidence[4].min_count", "value.out_of_range"),
        ("stages[2].max_dwell_hours", "value.out_of_range"),
        ("stages[3].actions[0].title", "value.missing"),
        ("stages[3].actions[0].due_after_business_hours", "value.out_of_range"),
    }
    messages = {error.field: error.message for error in raised.value.errors}
    evidence = "stages[1].required_evidence"
    assert messages[f"{evidence}[2].min_count"] == "min_count does not apply to notes evidence"
    assert "one of activity, attachment, notes, info_points" in messages[f"{evidence}[0].kind"]


def test_parse_stages_caps_the_lists_of_a_stage() -> None:
    raw = valid_stages()
    raw[2]["actions"] = [{"title": f"任务{i}", "due_after_business_hours": 8} for i in range(11)]
    raw[3]["required_evidence"] = [{"kind": "attachment"}] * 21

    with pytest.raises(InvalidInput) as raised:
        parse_stages(raw)

    assert errors_of(raised) == {
        ("stages[2].actions", "too_long"),
        ("stages[3].required_evidence", "too_long"),
    }


def test_every_kind_of_evidence_is_stored_as_before() -> None:
    """Rows written before the typed configuration load, and dump back to the same JSON."""
    stored = [
        {"kind": "activity", "min_count": 2, "activity_types": ["demo", "visit"]},
        {"kind": "activity", "min_count": 1, "activity_types": []},
        {"kind": "attachment", "min_count": 1},
        {"kind": "notes", "min_chars": 30},
        {"kind": "info_points", "min_count": 3},
    ]
    stage = {**valid_stages()[1], "required_evidence": stored}

    loaded = StageSpec.model_validate(stage)

    assert [type(r) for r in loaded.required_evidence] == [
        ActivityEvidence,
        ActivityEvidence,
        AttachmentEvidence,
        NotesEvidence,
        InfoPointsEvidence,
    ]
    assert loaded.model_dump(mode="json") == stage


def test_defaults_of_evidence_and_ordering_rules_fill_in() -> None:
    stage = StageSpec.model_validate(
        {**valid_stages()[1], "required_evidence": [{"kind": "activity"}, {"kind": "info_points"}]}
    )

    assert stage.model_dump(mode="json")["required_evidence"] == [
        {"kind": "activity", "min_count": 1, "activity_types": []},
        {"kind": "info_points", "min_count": 1},
    ]
    assert parse_ordering_rules([{"first": "visit", "then": "demo"}])[0].mode is OrderingMode.flag


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        ({"min_count": 1}, ("stages[1].required_evidence[0].kind", "missing")),
        ({"kind": 7}, ("stages[1].required_evidence[0].kind", "kind.unknown")),
        (
            {"kind": "attachment", "min_count": "2"},
            ("stages[1].required_evidence[0].min_count", "value.invalid"),
        ),
        (
            {"kind": "attachment", "min_count": 1.5},
            ("stages[1].required_evidence[0].min_count", "value.invalid"),
        ),
        (
            {"kind": "attachment", "min_chars": 5},
            ("stages[1].required_evidence[0].min_chars", "field.not_applicable"),
        ),
        (
            {"kind": "notes", "min_chars": 5, "colour": "red"},
            ("stages[1].required_evidence[0].colour", "extra_forbidden"),
        ),
        (
            {"kind": "activity", "activity_types": ["demo", "demo"]},
            ("stages[1].required_evidence[0].activity_types[1]", "value.duplicate"),
        ),
        ("notes", ("stages[1].required_evidence[0]", "model_attributes_type")),
    ],
)
def test_an_evidence_requirement_is_refused_at_its_value(requirement: Any, expected: tuple[str, str]) -> None:
    raw = valid_stages()
    raw[1]["required_evidence"] = [requirement]

    with pytest.raises(InvalidInput) as raised:
        parse_stages(raw)

    assert errors_of(raised) == {expected}


def test_a_whole_number_written_with_a_point_is_accepted() -> None:
    raw = valid_stages()
    raw[1]["required_evidence"] = [{"kind": "attachment", "min_count": 2.0}]
    raw[1]["probability"] = 20.0

    stage = parse_stages(raw)[1]

    assert (stage.probability, stage.required_evidence) == (
        20,
        (AttachmentEvidence(kind=EvidenceKind.attachment, min_count=2),),
    )


def test_parse_stages_rejects_booleans_for_numbers_and_evidence_on_the_first_stage() -> None:
    raw = valid_stages()
    raw[0]["probability"] = True
    raw[0]["required_evidence"] = [{"kind": "attachment"}]

    with pytest.raises(InvalidInput) as raised:
        parse_stages(raw)

    assert errors_of(raised) == {
        ("stages[0].probability", "value.invalid"),
        ("stages[0].required_evidence", "evidence.first_stage"),
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], {("stages", "stages.count")}),
        (
            [{"name": "A", "kind": "open", "probability": 10}],
            {("stages", "stages.count"), ("stages", "stages.won_missing"), ("stages", "stages.lost_missing")},
        ),
        (
            [
                {"name": "W", "kind": "won", "probability": 100},
                {"name": "L", "kind": "lost", "probability": 0},
            ],
            {("stages", "stages.open_missing")},
        ),
    ],
)
def test_parse_stages_needs_enough_stages_of_each_kind(
    raw: list[dict[str, Any]], expected: set[tuple[str, str]]
) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_stages(raw)

    assert errors_of(raised) == expected


def test_parse_ordering_rules() -> None:
    assert parse_ordering_rules(
        [{"first": "demo", "then": "quote_sent"}, {"first": "visit", "then": "demo", "mode": "reject"}]
    ) == (
        OrderingRule(first=ActivityType.demo, then=ActivityType.quote_sent, mode=OrderingMode.flag),
        OrderingRule(first=ActivityType.visit, then=ActivityType.demo, mode=OrderingMode.reject),
    )


def test_parse_ordering_rules_collects_every_problem() -> None:
    raw = [
        {"first": "lunch", "then": "quote_sent"},
        {"then": "demo", "mode": "block"},
        {"first": "demo", "then": "demo"},
        {"first": "demo", "then": "quote_sent", "why": "policy"},
        {"first": "demo", "then": "quote_sent"},
        {"first": "demo", "then": "quote_sent", "mode": "reject"},
    ]

    with pytest.raises(InvalidInput) as raised:
        parse_ordering_rules(raw)

    assert raised.value.code == "ordering_rules.invalid"
    assert errors_of(raised) == {
        ("ordering_rules[0].first", "activity_type.unknown"),
        ("ordering_rules[1].first", "missing"),
        ("ordering_rules[1].mode", "mode.unknown"),
        ("ordering_rules[2].then", "value.invalid"),
        ("ordering_rules[3].why", "extra_forbidden"),
        ("ordering_rules[5]", "rule.duplicate"),
    }
    messages = {error.field: error.message for error in raised.value.errors}
    assert messages["ordering_rules[5]"] == "demo before quote_sent is already a rule"
    assert "one of reject, flag" in messages["ordering_rules[1].mode"]


def test_task_due_dates_skip_the_weekend() -> None:
    friday_five_pm = datetime(2026, 11, 20, 17, 0, tzinfo=SHANGHAI)
    stage = StageSpec(
        name="报价谈判",
        kind=StageKind.open,
        probability=70,
        actions=(
            ActionSpec(title="电话确认报价", due_after_business_hours=2),
            ActionSpec(title="发送案例资料", due_after_business_hours=48),
        ),
    )

    due = task_due_dates(stage, friday_five_pm, policy_from_settings({}).business_calendar)

    assert due == [
        (
            ActionSpec(title="电话确认报价", due_after_business_hours=2),
            datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI),
        ),
        # 1 h on Friday, then 5 full 9-hour days (45 h), then 2 h: the Monday after next, 11:00.
        (
            ActionSpec(title="发送案例资料", due_after_business_hours=48),
            datetime(2026, 11, 30, 11, 0, tzinfo=SHANGHAI),
        ),
    ]
    assert due[0][1] == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_task_due_dates_skip_public_holidays_when_the_calendar_has_them() -> None:
    before_national_day = datetime(2026, 9, 30, 17, 0, tzinfo=SHANGHAI)
    stage = StageSpec(
        name="报价谈判",
        kind=StageKind.open,
        probability=70,
        actions=(ActionSpec(title="电话确认报价", due_after_business_hours=2),),
    )

    due = task_due_dates(
        stage, before_national_day, policy_from_settings({"public_holidays": "CN"}).business_calendar
    )

    # One hour on 30 September, then 1-7 October are holidays: 10:00 on Thursday 8 October.
    assert due == [
        (
            ActionSpec(title="电话确认报价", due_after_business_hours=2),
            datetime(2026, 10, 8, 10, 0, tzinfo=SHANGHAI),
        )
    ]


def test_templates_round_trip_through_parse_stages() -> None:
    assert set(TEMPLATES) == {"项目型销售", "B2B 标准流程"}
    for template in TEMPLATES.values():
        assert parse_stages([stage.model_dump(mode="json") for stage in template]) == list(template)


def test_templates_gate_every_open_stage_after_the_first() -> None:
    for template in (PROJECT_SALES_TEMPLATE, B2B_TEMPLATE):
        open_stages = [stage for stage in template if stage.kind is StageKind.open]
        assert open_stages[0].max_dwell_hours is not None
        for stage in open_stages[1:]:
            assert stage.required_fields or stage.required_evidence, stage.name


def test_b2b_quote_stage_needs_a_demo_and_creates_the_follow_up_pack() -> None:
    quote = B2B_TEMPLATE[3]
    no_demo = StageEvidence(activity_types=(ActivityType.call, ActivityType.meeting))

    unmet = unmet_requirements(quote, {"amount": 120000}, no_demo)

    assert quote.name == "报价谈判"
    assert [(u.code, u.field, u.message) for u in unmet] == [
        (
            "stage.field_missing",
            "expected_close_date",
            "needs expected_close_date filled in to enter 报价谈判; it is not set",
        ),
        ("stage.evidence_activity", "evidence[0]", "needs 1 activity of type demo in this stage; found 0"),
    ]
    assert [(a.title, a.due_after_business_hours) for a in quote.actions] == [
        ("发送案例资料", 48),
        ("满意度回访", 72),
    ]


def test_a_stored_stage_reads_back() -> None:
    for stage in PROJECT_SALES_TEMPLATE:
        assert StageSpec.model_validate(stage.model_dump(mode="json")) == stage


def test_a_broken_stored_stage_is_refused() -> None:
    broken = {**B2B_TEMPLATE[3].model_dump(mode="json"), "probability": 170}

    with pytest.raises(ValueError, match=r"probability\n  must be from 0 to 100; got 170"):
        StageSpec.model_validate(broken)


def test_texts_are_measured_as_sent_and_stored_trimmed() -> None:
    """The contract's maxLength counts what the client sends, spaces included."""
    raw = valid_stages()
    raw[0]["name"] = " 触达 "
    raw[1]["actions"] = [{"title": "回访" + " " * 99, "due_after_business_hours": 8}]
    raw[2]["name"] = "方" + " " * 64

    with pytest.raises(InvalidInput) as raised:
        parse_stages(raw)

    assert errors_of(raised) == {
        ("stages[1].actions[0].title", "value.too_long"),
        ("stages[2].name", "value.too_long"),
    }
    raw[1]["actions"] = [{"title": " 回访 ", "due_after_business_hours": 8}]
    raw[2]["name"] = "方案演示"
    stages = parse_stages(raw)
    assert (stages[0].name, stages[1].actions[0].title) == ("触达", "回访")
