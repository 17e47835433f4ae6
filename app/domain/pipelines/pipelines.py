"""Sales pipelines: stages, the gates an opportunity passes to enter a stage, and the tasks a stage creates.

Pure functions: the service loads the opportunity, the evidence gathered in its current stage and the
pipeline's stages, asks `unmet_requirements` what is missing, and refuses or records the move.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from app.domain.activities.activities import ActivityType, InfoPoint
from app.domain.platform.errors import FieldError, InvalidInput
from app.domain.sla.calendars import BusinessCalendar, add_business_minutes


class StageKind(StrEnum):
    open = "open"
    won = "won"
    lost = "lost"


class EvidenceKind(StrEnum):
    activity = "activity"
    attachment = "attachment"
    notes = "notes"
    info_points = "info_points"


# Fields a stage may require before an opportunity enters it.
OPPORTUNITY_REQUIRED_FIELDS = frozenset(
    {
        "amount",
        "expected_close_date",
        "contact_id",
        "product_lines",
        "description",
        "competitors",
        "decision_process",
    }
)

MIN_STAGES = 2
MAX_STAGES = 20
MAX_STAGE_NAME = 64
MAX_EVIDENCE_COUNT = 50
MAX_NOTE_CHARS = 5000
MAX_DWELL_HOURS = 8760
MAX_ACTIONS = 10
MAX_ACTION_TITLE = 100
MAX_ACTION_DUE_HOURS = 2000
MAX_ORDERING_RULES = 20
# Activities only record the known info points, so asking for more than exist could never be met.
_KNOWN_INFO_POINTS = frozenset(point.value for point in InfoPoint)

# `id` names the stored stage a written one keeps; the service checks it against the pipeline.
_STAGE_KEYS = frozenset(
    {
        "id",
        "name",
        "kind",
        "probability",
        "required_fields",
        "required_evidence",
        "max_dwell_hours",
        "actions",
    }
)
_EVIDENCE_KEYS = {
    EvidenceKind.activity: frozenset({"kind", "min_count", "activity_types"}),
    EvidenceKind.attachment: frozenset({"kind", "min_count"}),
    EvidenceKind.notes: frozenset({"kind", "min_chars"}),
    EvidenceKind.info_points: frozenset({"kind", "min_count"}),
}
_ANY_EVIDENCE_KEY = frozenset().union(*_EVIDENCE_KEYS.values())
_ACTION_KEYS = frozenset({"title", "due_after_business_hours"})
_ORDERING_KEYS = frozenset({"first", "then", "mode"})
# Forecasts weight a stage by its probability, and a closed deal is certain either way.
_CLOSED_PROBABILITY = {StageKind.won: 100, StageKind.lost: 0}


@dataclass(frozen=True)
class EvidenceRequirement:
    kind: EvidenceKind
    min_count: int = 1
    # Empty means an activity of any type counts.
    activity_types: tuple[ActivityType, ...] = ()
    min_chars: int = 0

    def as_dict(self) -> dict[str, Any]:
        match self.kind:
            case EvidenceKind.activity:
                return {
                    "kind": self.kind.value,
                    "min_count": self.min_count,
                    "activity_types": [t.value for t in self.activity_types],
                }
            case EvidenceKind.notes:
                return {"kind": self.kind.value, "min_chars": self.min_chars}
            case EvidenceKind.attachment | EvidenceKind.info_points:
                return {"kind": self.kind.value, "min_count": self.min_count}


@dataclass(frozen=True)
class ActionSpec:
    """A task the opportunity's owner gets when the opportunity enters the stage."""

    title: str
    due_after_business_hours: int

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "due_after_business_hours": self.due_after_business_hours}


@dataclass(frozen=True)
class StageSpec:
    name: str
    kind: StageKind
    probability: int
    required_fields: tuple[str, ...] = ()
    # Checked against what was gathered in the stage being left, because that is where the work happens:
    # the needs list that lets a deal into 方案呈现 is collected during 需求诊断.
    required_evidence: tuple[EvidenceRequirement, ...] = ()
    max_dwell_hours: int | None = None
    actions: tuple[ActionSpec, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "probability": self.probability,
            "required_fields": list(self.required_fields),
            "required_evidence": [requirement.as_dict() for requirement in self.required_evidence],
            "max_dwell_hours": self.max_dwell_hours,
            "actions": [action.as_dict() for action in self.actions],
        }


def parse_stages(raw: Sequence[Mapping[str, Any]]) -> list[StageSpec]:
    """Validated stages, or InvalidInput naming every problem at once, each with its field path."""
    errors: list[FieldError] = []
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise InvalidInput(
            "The pipeline's stages cannot be used.",
            code="pipeline.invalid",
            errors=[FieldError("stages", "value.invalid", "stages must be a list")],
        )
    if not MIN_STAGES <= len(raw) <= MAX_STAGES:
        errors.append(
            FieldError(
                "stages",
                "stages.count",
                f"a pipeline has {MIN_STAGES} to {MAX_STAGES} stages; got {len(raw)}",
            )
        )
    stages: list[StageSpec] = []
    names: list[str | None] = []
    kinds: list[StageKind | None] = []
    for index, item in enumerate(raw):
        stage = _parse_stage(item, f"stages[{index}]", errors, names, kinds)
        if stage is not None:
            stages.append(stage)
    if raw and isinstance(raw[0], Mapping) and raw[0].get("required_evidence"):
        errors.append(
            FieldError(
                "stages[0].required_evidence",
                "evidence.first_stage",
                "opportunities start in the first stage, so there is no earlier stage to gather evidence in",
            )
        )
    if raw:
        _check_names(names, errors)
        _check_kinds(names, kinds, errors)
    if errors:
        raise InvalidInput("The pipeline's stages cannot be used.", code="pipeline.invalid", errors=errors)
    return stages


def stage_from_dict(raw: Mapping[str, Any]) -> StageSpec:
    """One stored stage, as written by `StageSpec.as_dict` after `parse_stages` accepted its pipeline.

    A stored stage that no longer validates is broken data, not a client mistake, hence ValueError.
    """
    errors: list[FieldError] = []
    stage = _parse_stage(raw, "stage", errors, [], [])
    if stage is None:
        raise ValueError("stored stage is invalid: " + "; ".join(f"{e.field}: {e.message}" for e in errors))
    return stage


def _parse_stage(
    item: Any,
    where: str,
    errors: list[FieldError],
    names: list[str | None],
    kinds: list[StageKind | None],
) -> StageSpec | None:
    if not isinstance(item, Mapping):
        errors.append(FieldError(where, "value.invalid", "a stage must be an object"))
        names.append(None)
        kinds.append(None)
        return None
    errors_before = len(errors)
    _reject_unknown_keys(item, _STAGE_KEYS, where, errors)
    name = _text(item, "name", MAX_STAGE_NAME, where, errors)
    kind = _enum(item, "kind", StageKind, where, errors)
    names.append(name)
    kinds.append(kind)
    probability = _probability(item, kind, where, errors)
    required_fields = _required_fields(item.get("required_fields", []), f"{where}.required_fields", errors)
    evidence = _evidence_list(item.get("required_evidence", []), f"{where}.required_evidence", errors)
    max_dwell_hours = None
    if item.get("max_dwell_hours") is not None:
        max_dwell_hours = _int_between(
            item["max_dwell_hours"], 1, MAX_DWELL_HOURS, f"{where}.max_dwell_hours", errors
        )
    actions = _actions(item.get("actions", []), f"{where}.actions", errors)
    if name is None or kind is None or probability is None or len(errors) > errors_before:
        return None
    return StageSpec(name, kind, probability, required_fields, evidence, max_dwell_hours, actions)


def _check_names(names: Sequence[str | None], errors: list[FieldError]) -> None:
    first_index: dict[str, int] = {}
    for index, name in enumerate(names):
        if name is None:
            continue
        key = name.casefold()
        if key in first_index:
            errors.append(
                FieldError(
                    f"stages[{index}].name",
                    "name.duplicate",
                    f"{name!r} is already the name of stages[{first_index[key]}]",
                )
            )
        else:
            first_index[key] = index


def _check_kinds(
    names: Sequence[str | None], kinds: Sequence[StageKind | None], errors: list[FieldError]
) -> None:
    first_closed: int | None = None
    first_won: int | None = None
    for index, kind in enumerate(kinds):
        if kind is None:
            continue
        if kind is StageKind.open:
            # Forward moves and skips count open stages by position, so a closed stage cannot sit among them.
            if first_closed is not None:
                errors.append(
                    FieldError(
                        f"stages[{index}].kind",
                        "stages.order",
                        f"open stage {names[index]!r} comes after the closed stage "
                        f"{names[first_closed]!r}; open stages come first",
                    )
                )
            continue
        if first_closed is None:
            first_closed = index
        if kind is StageKind.won:
            if first_won is None:
                first_won = index
            else:
                errors.append(
                    FieldError(
                        f"stages[{index}].kind",
                        "stages.won_duplicate",
                        f"a pipeline has exactly one won stage; stages[{first_won}] "
                        f"{names[first_won]!r} is already won",
                    )
                )
    for kind, code, message in (
        (StageKind.open, "stages.open_missing", "a pipeline needs at least one open stage; found none"),
        (StageKind.won, "stages.won_missing", "a pipeline needs exactly one won stage; found none"),
        (StageKind.lost, "stages.lost_missing", "a pipeline needs at least one lost stage; found none"),
    ):
        if kind not in kinds:
            errors.append(FieldError("stages", code, message))


def _probability(
    item: Mapping[str, Any], kind: StageKind | None, where: str, errors: list[FieldError]
) -> int | None:
    path = f"{where}.probability"
    if "probability" not in item:
        errors.append(FieldError(path, "value.missing", "probability is required"))
        return None
    probability = _int_between(item["probability"], 0, 100, path, errors)
    if probability is None:
        return None
    fixed = _CLOSED_PROBABILITY.get(kind) if kind is not None else None
    if fixed is not None and probability != fixed:
        errors.append(
            FieldError(
                path,
                "probability.mismatch",
                f"a {kind} stage has probability {fixed}; got {probability}",
            )
        )
        return None
    return probability


def _required_fields(raw: Any, where: str, errors: list[FieldError]) -> tuple[str, ...]:
    items = _list(raw, where, errors)
    fields: list[str] = []
    for index, value in enumerate(items):
        path = f"{where}[{index}]"
        if not isinstance(value, str) or value not in OPPORTUNITY_REQUIRED_FIELDS:
            allowed = ", ".join(sorted(OPPORTUNITY_REQUIRED_FIELDS))
            errors.append(
                FieldError(
                    path,
                    "field.unknown",
                    f"{value!r} is not an opportunity field a stage can require; one of {allowed}"[:300],
                )
            )
        elif value in fields:
            errors.append(FieldError(path, "value.duplicate", f"{value!r} is listed twice"))
        else:
            fields.append(value)
    return tuple(fields)


def _evidence_list(raw: Any, where: str, errors: list[FieldError]) -> tuple[EvidenceRequirement, ...]:
    requirements = [
        _requirement(item, f"{where}[{index}]", errors)
        for index, item in enumerate(_list(raw, where, errors))
    ]
    return tuple(requirement for requirement in requirements if requirement is not None)


def _requirement(item: Any, where: str, errors: list[FieldError]) -> EvidenceRequirement | None:
    if not isinstance(item, Mapping):
        errors.append(FieldError(where, "value.invalid", "an evidence requirement must be an object"))
        return None
    errors_before = len(errors)
    kind = _enum(item, "kind", EvidenceKind, where, errors)
    if kind is None:
        _reject_unknown_keys(item, _ANY_EVIDENCE_KEY, where, errors)
        return None
    for key in item:
        if key in _ANY_EVIDENCE_KEY and key not in _EVIDENCE_KEYS[kind]:
            errors.append(
                FieldError(
                    f"{where}.{key}", "field.not_applicable", f"{key} does not apply to {kind} evidence"
                )
            )
    _reject_unknown_keys(item, _ANY_EVIDENCE_KEY, where, errors)
    if kind is EvidenceKind.notes:
        if "min_chars" not in item:
            errors.append(FieldError(f"{where}.min_chars", "value.missing", "notes evidence needs min_chars"))
            return None
        min_chars = _int_between(item["min_chars"], 1, MAX_NOTE_CHARS, f"{where}.min_chars", errors)
        return None if min_chars is None else EvidenceRequirement(kind, min_chars=min_chars)
    most = len(_KNOWN_INFO_POINTS) if kind is EvidenceKind.info_points else MAX_EVIDENCE_COUNT
    min_count = _int_between(item.get("min_count", 1), 1, most, f"{where}.min_count", errors)
    activity_types: tuple[ActivityType, ...] = ()
    if kind is EvidenceKind.activity:
        activity_types = _activity_types(item.get("activity_types", []), f"{where}.activity_types", errors)
    if min_count is None or len(errors) > errors_before:
        return None
    return EvidenceRequirement(kind, min_count=min_count, activity_types=activity_types)


def _activity_types(raw: Any, where: str, errors: list[FieldError]) -> tuple[ActivityType, ...]:
    types: list[ActivityType] = []
    for index, value in enumerate(_list(raw, where, errors)):
        path = f"{where}[{index}]"
        activity_type = _as_enum(ActivityType, value)
        if activity_type is None:
            errors.append(FieldError(path, "activity_type.unknown", _unknown_enum(ActivityType, value)))
        elif activity_type in types:
            errors.append(FieldError(path, "value.duplicate", f"{value!r} is listed twice"))
        else:
            types.append(activity_type)
    return tuple(types)


def _actions(raw: Any, where: str, errors: list[FieldError]) -> tuple[ActionSpec, ...]:
    items = _list(raw, where, errors)
    if len(items) > MAX_ACTIONS:
        errors.append(FieldError(where, "too_many", f"at most {MAX_ACTIONS} actions; got {len(items)}"))
    actions: list[ActionSpec] = []
    for index, item in enumerate(items):
        path = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            errors.append(FieldError(path, "value.invalid", "an action must be an object"))
            continue
        _reject_unknown_keys(item, _ACTION_KEYS, path, errors)
        title = _text(item, "title", MAX_ACTION_TITLE, path, errors)
        due = None
        if "due_after_business_hours" not in item:
            errors.append(
                FieldError(
                    f"{path}.due_after_business_hours",
                    "value.missing",
                    "due_after_business_hours is required",
                )
            )
        else:
            due = _int_between(
                item["due_after_business_hours"],
                1,
                MAX_ACTION_DUE_HOURS,
                f"{path}.due_after_business_hours",
                errors,
            )
        if title is not None and due is not None:
            actions.append(ActionSpec(title, due))
    return tuple(actions)


def _reject_unknown_keys(
    item: Mapping[Any, Any], allowed: frozenset[str], where: str, errors: list[FieldError]
) -> None:
    for key in item:
        if key not in allowed:
            errors.append(
                FieldError(
                    f"{where}.{key}"[:200],
                    "field.unknown",
                    f"unknown field {key!r}; allowed: {', '.join(sorted(allowed))}"[:300],
                )
            )


def _text(
    item: Mapping[str, Any], key: str, longest: int, where: str, errors: list[FieldError]
) -> str | None:
    path = f"{where}.{key}"
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(path, "value.missing", f"{key} must be non-empty text"))
        return None
    text = value.strip()
    if len(text) > longest:
        errors.append(
            FieldError(path, "value.too_long", f"{key} has at most {longest} characters; got {len(text)}")
        )
        return None
    return text


def _int_between(value: Any, lowest: int, highest: int, path: str, errors: list[FieldError]) -> int | None:
    # JSON true/false would pass as 1/0 otherwise.
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(
            FieldError(
                path,
                "value.invalid",
                f"must be a whole number from {lowest} to {highest}; got {value!r}"[:200],
            )
        )
        return None
    if not lowest <= value <= highest:
        errors.append(
            FieldError(path, "value.out_of_range", f"must be from {lowest} to {highest}; got {value}"[:200])
        )
        return None
    return value


def _list(value: Any, where: str, errors: list[FieldError]) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    errors.append(FieldError(where, "value.invalid", f"must be a list; got {value!r}"[:200]))
    return []


_E = TypeVar("_E", bound=StrEnum)


def _as_enum(enum: type[_E], value: Any) -> _E | None:
    if not isinstance(value, str):
        return None
    try:
        return enum(value)
    except ValueError:
        return None


def _unknown_enum(enum: type[StrEnum], value: Any) -> str:
    return f"unknown value {value!r}; one of {', '.join(member.value for member in enum)}"[:300]


def _enum(
    item: Mapping[str, Any], key: str, enum: type[_E], where: str, errors: list[FieldError]
) -> _E | None:
    path = f"{where}.{key}"
    if key not in item:
        errors.append(FieldError(path, "value.missing", f"{key} is required"))
        return None
    member = _as_enum(enum, item[key])
    if member is None:
        errors.append(FieldError(path, f"{key}.unknown", _unknown_enum(enum, item[key])))
    return member


class LeadWork(StrEnum):
    """Whether the activities of the lead a deal was converted from are part of its evidence.

    The work on a lead (the qualifying call, the needs and budget it learnt) is the work of the
    stage its deal starts in, so it counts there; once the deal has moved on it is history."""

    none = "none"  # the deal came from no lead
    counted = "counted"  # the deal is in the stay it was created in
    past = "past"  # the deal has left that stay


_LEAD_WORK_NOTE = {
    LeadWork.none: "",
    LeadWork.counted: "; its lead's activities count too, in the deal's first stage",
    LeadWork.past: "; its lead's activities counted only in the deal's first stage",
}


@dataclass(frozen=True)
class StageEvidence:
    """What was gathered while the opportunity sat in its current stage."""

    # One entry per activity, so counts of a type are counts of activities.
    activity_types: tuple[ActivityType, ...] = ()
    info_points: frozenset[str] = frozenset()
    # Includes the note sent with the stage change itself.
    longest_note_chars: int = 0
    # Files on the deal uploaded in this stage, on its activities, and sent with the change.
    attachment_count: int = 0
    lead_work: LeadWork = LeadWork.none


@dataclass(frozen=True)
class Unmet:
    code: str
    # The opportunity field, or "evidence[i]" into the target stage's required_evidence.
    field: str
    message: str


def unmet_requirements(target: StageSpec, fields: Mapping[str, Any], evidence: StageEvidence) -> list[Unmet]:
    """Everything missing to enter `target`, all at once, so a rep fixes it in one go."""
    unmet = [
        Unmet("stage.field_missing", name, f"needs {name} filled in to enter {target.name}; {problem}")
        for name in target.required_fields
        if (problem := _emptiness(fields.get(name))) is not None
    ]
    for index, requirement in enumerate(target.required_evidence):
        shortfall = _evidence_shortfall(requirement, evidence)
        if shortfall is not None:
            message = shortfall + _LEAD_WORK_NOTE[evidence.lead_work]
            unmet.append(Unmet(f"stage.evidence_{requirement.kind.value}", f"evidence[{index}]", message))
    return unmet


def _emptiness(value: Any) -> str | None:
    if value is None:
        return "it is not set"
    if isinstance(value, str) and not value.strip():
        return "it is blank"
    if isinstance(value, list | tuple | set | frozenset | dict) and not value:
        return "it is empty"
    return None


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def _evidence_shortfall(requirement: EvidenceRequirement, evidence: StageEvidence) -> str | None:
    match requirement.kind:
        case EvidenceKind.activity:
            wanted = set(requirement.activity_types)
            found = sum(1 for t in evidence.activity_types if not wanted or t in wanted)
            if found >= requirement.min_count:
                return None
            of_type = (
                f"of type {' or '.join(t.value for t in requirement.activity_types)}"
                if requirement.activity_types
                else "of any type"
            )
            needed = _plural(requirement.min_count, "activity", "activities")
            return f"needs {needed} {of_type} in this stage; found {found}"
        case EvidenceKind.attachment:
            if evidence.attachment_count >= requirement.min_count:
                return None
            needed = _plural(requirement.min_count, "attachment", "attachments")
            return (
                f"needs {needed} in this stage (uploaded to the deal or one of its activities, or sent "
                f"with the change); found {evidence.attachment_count}"
            )
        case EvidenceKind.notes:
            if evidence.longest_note_chars >= requirement.min_chars:
                return None
            return (
                f"needs a note of at least {requirement.min_chars} characters in this stage; "
                f"the longest has {evidence.longest_note_chars}"
            )
        case EvidenceKind.info_points:
            known = sorted(evidence.info_points & _KNOWN_INFO_POINTS)
            if len(known) >= requirement.min_count:
                return None
            needed = _plural(requirement.min_count, "distinct info point", "distinct info points")
            listed = f" ({', '.join(known)})" if known else ""
            return f"needs {needed} collected in this stage; found {len(known)}{listed}"


class Move(StrEnum):
    forward = "forward"
    skip = "skip"
    backward = "backward"
    close = "close"


def classify_move(stages: Sequence[StageSpec], from_index: int, to_index: int) -> Move:
    """How a stage change relates to the pipeline's order; `stages` is assumed validated by parse_stages.

    Moving between the won and lost stages also counts as close: the service decides whether a closed
    opportunity may change its outcome.
    """
    for index in (from_index, to_index):
        if not 0 <= index < len(stages):
            raise ValueError(f"stage index {index} is outside the pipeline's {len(stages)} stages")
    if from_index == to_index:
        raise ValueError("an opportunity cannot move to the stage it is in")
    if stages[to_index].kind is not StageKind.open:
        return Move.close
    if to_index < from_index:
        return Move.backward
    return Move.forward if to_index == from_index + 1 else Move.skip


class OrderingMode(StrEnum):
    reject = "reject"
    flag = "flag"


@dataclass(frozen=True)
class OrderingRule:
    """An activity of type `then` is expected only after one of type `first` on the same opportunity."""

    first: ActivityType
    then: ActivityType
    mode: OrderingMode = OrderingMode.flag

    def as_dict(self) -> dict[str, Any]:
        return {"first": self.first.value, "then": self.then.value, "mode": self.mode.value}


# Quoting before the customer has seen the product is flagged for the manager, not refused.
DEFAULT_ORDERING_RULES: tuple[OrderingRule, ...] = (
    OrderingRule(ActivityType.demo, ActivityType.quote_sent, OrderingMode.flag),
)


def parse_ordering_rules(raw: Sequence[Mapping[str, Any]]) -> tuple[OrderingRule, ...]:
    """Validated ordering rules, or InvalidInput naming every problem with its field path."""
    errors: list[FieldError] = []
    rules: list[OrderingRule] = []
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raw = []
        errors.append(FieldError("ordering_rules", "value.invalid", "ordering_rules must be a list"))
    if len(raw) > MAX_ORDERING_RULES:
        errors.append(
            FieldError("ordering_rules", "too_many", f"at most {MAX_ORDERING_RULES} rules; got {len(raw)}")
        )
    for index, item in enumerate(raw):
        where = f"ordering_rules[{index}]"
        if not isinstance(item, Mapping):
            errors.append(FieldError(where, "value.invalid", "an ordering rule must be an object"))
            continue
        errors_before = len(errors)
        _reject_unknown_keys(item, _ORDERING_KEYS, where, errors)
        first = _ordering_type(item, "first", where, errors)
        then = _ordering_type(item, "then", where, errors)
        mode = _as_enum(OrderingMode, item.get("mode", OrderingMode.flag.value))
        if mode is None:
            errors.append(
                FieldError(f"{where}.mode", "mode.unknown", _unknown_enum(OrderingMode, item["mode"]))
            )
        if first is None or then is None or mode is None or len(errors) > errors_before:
            continue
        if first is then:
            errors.append(FieldError(f"{where}.then", "value.invalid", "then must differ from first"))
            continue
        if any((rule.first, rule.then) == (first, then) for rule in rules):
            errors.append(
                FieldError(where, "rule.duplicate", f"{first.value} before {then.value} is already a rule")
            )
            continue
        rules.append(OrderingRule(first, then, mode))
    if errors:
        raise InvalidInput(
            "The activity ordering rules cannot be used.", code="ordering_rules.invalid", errors=errors
        )
    return tuple(rules)


def _ordering_type(
    item: Mapping[str, Any], key: str, where: str, errors: list[FieldError]
) -> ActivityType | None:
    path = f"{where}.{key}"
    if key not in item:
        errors.append(FieldError(path, "value.missing", f"{key} is required"))
        return None
    activity_type = _as_enum(ActivityType, item[key])
    if activity_type is None:
        errors.append(FieldError(path, "activity_type.unknown", _unknown_enum(ActivityType, item[key])))
    return activity_type


def ordering_violations(
    rules: Sequence[OrderingRule], earlier_types: Sequence[ActivityType], new_type: ActivityType
) -> list[OrderingRule]:
    """The rules a new activity of `new_type` breaks, given the opportunity's earlier activity types."""
    return [rule for rule in rules if new_type is rule.then and rule.first not in earlier_types]


def task_due_dates(
    stage: StageSpec, entered_at: datetime, calendar: BusinessCalendar
) -> list[tuple[ActionSpec, datetime]]:
    """Each action of the stage with its due instant, counted on the organization's business
    calendar (nights, weekends and, where configured, public holidays do not count)."""
    return [
        (action, add_business_minutes(calendar, entered_at, action.due_after_business_hours * 60))
        for action in stage.actions
    ]


def _activity(*types: ActivityType, min_count: int = 1) -> EvidenceRequirement:
    return EvidenceRequirement(EvidenceKind.activity, min_count=min_count, activity_types=types)


def _notes(min_chars: int) -> EvidenceRequirement:
    return EvidenceRequirement(EvidenceKind.notes, min_chars=min_chars)


def _info_points(min_count: int) -> EvidenceRequirement:
    return EvidenceRequirement(EvidenceKind.info_points, min_count=min_count)


def _attachments(min_count: int) -> EvidenceRequirement:
    return EvidenceRequirement(EvidenceKind.attachment, min_count=min_count)


# After the customer has seen the solution: send references while interest is high, then ask how it landed.
_POST_DEMO_ACTIONS = (ActionSpec("发送案例资料", 48), ActionSpec("满意度回访", 72))

# Long projects with many stakeholders (工程、集成): the decision chain must be known before a proposal.
PROJECT_SALES_TEMPLATE: tuple[StageSpec, ...] = (
    StageSpec("初步接触", StageKind.open, 10, max_dwell_hours=168),
    StageSpec(
        "需求诊断",
        StageKind.open,
        25,
        required_fields=("contact_id",),
        required_evidence=(_activity(ActivityType.call, ActivityType.visit, ActivityType.meeting),),
        max_dwell_hours=240,
    ),
    StageSpec(
        "方案呈现",
        StageKind.open,
        50,
        required_fields=("amount", "contact_id", "product_lines", "description"),
        required_evidence=(_info_points(3), _notes(50)),
        max_dwell_hours=336,
    ),
    StageSpec(
        "异议处理",
        StageKind.open,
        70,
        required_fields=("expected_close_date", "competitors", "decision_process"),
        required_evidence=(_activity(ActivityType.demo, ActivityType.meeting), _attachments(1)),
        max_dwell_hours=336,
        actions=_POST_DEMO_ACTIONS,
    ),
    # The signed contract is uploaded to the deal (or sent with the change), so the won stage asks for an
    # attachment.
    StageSpec(
        "签约交付",
        StageKind.won,
        100,
        required_fields=("amount", "expected_close_date", "contact_id"),
        required_evidence=(_attachments(1),),
    ),
    # Managers review lost deals, so the reason has to be written down.
    StageSpec("输单", StageKind.lost, 0, required_evidence=(_notes(20),)),
)

# Shorter, repeatable B2B sales: a demo is the turning point before a quote.
B2B_TEMPLATE: tuple[StageSpec, ...] = (
    StageSpec("触达", StageKind.open, 10, max_dwell_hours=120),
    StageSpec(
        "需求确认",
        StageKind.open,
        20,
        required_fields=("contact_id",),
        required_evidence=(_notes(30),),
        max_dwell_hours=240,
    ),
    StageSpec(
        "方案演示",
        StageKind.open,
        40,
        required_fields=("product_lines",),
        required_evidence=(_info_points(3),),
        max_dwell_hours=240,
    ),
    StageSpec(
        "报价谈判",
        StageKind.open,
        70,
        required_fields=("amount", "expected_close_date"),
        required_evidence=(_activity(ActivityType.demo),),
        max_dwell_hours=336,
        actions=_POST_DEMO_ACTIONS,
    ),
    StageSpec(
        "赢单",
        StageKind.won,
        100,
        required_fields=("amount", "expected_close_date"),
        required_evidence=(_attachments(1),),
    ),
    StageSpec("输单", StageKind.lost, 0, required_evidence=(_notes(10),)),
)

TEMPLATES: dict[str, tuple[StageSpec, ...]] = {
    "项目型销售": PROJECT_SALES_TEMPLATE,
    "B2B 标准流程": B2B_TEMPLATE,
}
