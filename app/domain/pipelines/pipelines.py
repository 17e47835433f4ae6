"""Sales pipelines: stages, the gates an opportunity passes to enter a stage, and the tasks a stage creates.

A pipeline's configuration (its stages with their evidence requirements and actions, its ordering
rules) is a set of pydantic models: the one description of the stored JSON, which the API's bodies
reuse. Pure functions: the service loads the opportunity, the evidence gathered in its current stage
and the pipeline's stages, asks `unmet_requirements` what is missing, and refuses or records the move.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.domain.activities.activities import ActivityType, InfoPoint
from app.domain.platform.errors import FieldError, InvalidInput, validation_field_errors
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


class OrderingMode(StrEnum):
    reject = "reject"
    flag = "flag"


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
MAX_EVIDENCE = 20
MAX_EVIDENCE_COUNT = 50
MAX_NOTE_CHARS = 5000
MAX_DWELL_HOURS = 8760
MAX_ACTIONS = 10
MAX_ACTION_TITLE = 100
MAX_ACTION_DUE_HOURS = 2000
MAX_ORDERING_RULES = 20
# Activities only record the known info points, so asking for more than exist could never be met.
_KNOWN_INFO_POINTS = frozenset(point.value for point in InfoPoint)

# Forecasts weight a stage by its probability, and a closed deal is certain either way.
_CLOSED_PROBABILITY = {StageKind.won: 100, StageKind.lost: 0}


# --- the stored configuration: typed, validated once, stored as its JSON dump -------------------------
#
# The same models check a pipeline the API receives (app/api/schemas/pipelines.py declares its bodies
# with them, so the contract shows every key and bound), load a stored one, and are what the rules
# below read. A value that cannot be used is refused with the codes clients have seen since the first
# release (`value.out_of_range`, `kind.unknown` ...), at the path of the value.


def _refusal(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, "{reason}", {"reason": message})


def _refused_at(
    title: str, problems: Sequence[tuple[tuple[str | int, ...], str, str]], given: Any
) -> ValidationError:
    """One refusal naming several places inside the value being validated (a key, an index)."""
    details: list[InitErrorDetails] = [
        {"type": _refusal(code, message), "loc": loc, "input": given} for loc, code, message in problems
    ]
    return ValidationError.from_exception_data(title, details)


def _whole_number(lowest: int, highest: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        # JSON Schema's integer: 3 and 3.0; never true (Python's 1) nor "3".
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _refusal(
                "value.invalid", f"must be a whole number from {lowest} to {highest}; got {value!r}"[:200]
            )
        if not lowest <= value <= highest:
            raise _refusal("value.out_of_range", f"must be from {lowest} to {highest}; got {value}"[:200])
        return value

    return check


def _text(longest: int) -> Callable[[Any, ValidationInfo], str]:
    def check(value: Any, info: ValidationInfo) -> str:
        if not isinstance(value, str) or not value.strip():
            raise _refusal("value.missing", f"{info.field_name} must be non-empty text")
        # Measured as sent, as the contract's maxLength is.
        if len(value) > longest:
            raise _refusal(
                "value.too_long", f"{info.field_name} has at most {longest} characters; got {len(value)}"
            )
        return value.strip()

    return check


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


def _known(enum: type[_E], code: str) -> Callable[[Any], _E]:
    def check(value: Any) -> _E:
        member = _as_enum(enum, value)
        if member is None:
            raise _refusal(code, _unknown_enum(enum, value))
        return member

    return check


def _opportunity_field(value: Any) -> str:
    if not isinstance(value, str) or value not in OPPORTUNITY_REQUIRED_FIELDS:
        allowed = ", ".join(sorted(OPPORTUNITY_REQUIRED_FIELDS))
        raise _refusal(
            "field.unknown",
            f"{value!r} is not an opportunity field a stage can require; one of {allowed}"[:300],
        )
    return value


_Item = TypeVar("_Item")


def _distinct(items: tuple[_Item, ...]) -> tuple[_Item, ...]:
    repeats = [
        ((index,), "value.duplicate", f"{str(item)!r} is listed twice")
        for index, item in enumerate(items)
        if item in items[:index]
    ]
    if repeats:
        raise _refused_at("list", repeats, items)
    return items


StageName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_STAGE_NAME), BeforeValidator(_text(MAX_STAGE_NAME))
]
Probability = Annotated[int, Field(ge=0, le=100), BeforeValidator(_whole_number(0, 100))]
DwellHours = Annotated[
    int, Field(ge=1, le=MAX_DWELL_HOURS), BeforeValidator(_whole_number(1, MAX_DWELL_HOURS))
]
EvidenceCount = Annotated[
    int, Field(ge=1, le=MAX_EVIDENCE_COUNT), BeforeValidator(_whole_number(1, MAX_EVIDENCE_COUNT))
]
InfoPointCount = Annotated[
    int,
    Field(ge=1, le=len(_KNOWN_INFO_POINTS)),
    BeforeValidator(_whole_number(1, len(_KNOWN_INFO_POINTS))),
]
NoteChars = Annotated[int, Field(ge=1, le=MAX_NOTE_CHARS), BeforeValidator(_whole_number(1, MAX_NOTE_CHARS))]
ActionTitle = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ACTION_TITLE),
    BeforeValidator(_text(MAX_ACTION_TITLE)),
]
DueHours = Annotated[
    int, Field(ge=1, le=MAX_ACTION_DUE_HOURS), BeforeValidator(_whole_number(1, MAX_ACTION_DUE_HOURS))
]
KnownStageKind = Annotated[StageKind, BeforeValidator(_known(StageKind, "kind.unknown"))]
KnownActivityType = Annotated[ActivityType, BeforeValidator(_known(ActivityType, "activity_type.unknown"))]
KnownOrderingMode = Annotated[OrderingMode, BeforeValidator(_known(OrderingMode, "mode.unknown"))]
RequiredField = Annotated[
    str,
    BeforeValidator(_opportunity_field),
    WithJsonSchema({"type": "string", "enum": sorted(OPPORTUNITY_REQUIRED_FIELDS)}),
]


class _Config(BaseModel):
    """A part of a pipeline's configuration: every key known (another is refused, naming it), and
    immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ActivityEvidence(_Config):
    """Activities logged in the stage being left."""

    kind: Literal[EvidenceKind.activity]
    min_count: EvidenceCount = 1
    activity_types: Annotated[tuple[KnownActivityType, ...], AfterValidator(_distinct)] = Field(
        default=(), description="The types that count; empty: an activity of any type counts."
    )


class AttachmentEvidence(_Config):
    """Files on the deal uploaded in the stage being left, on its activities, or sent with the move."""

    kind: Literal[EvidenceKind.attachment]
    min_count: EvidenceCount = 1


class NotesEvidence(_Config):
    """A note of at least `min_chars` characters written in the stage being left."""

    kind: Literal[EvidenceKind.notes]
    min_chars: NoteChars


class InfoPointsEvidence(_Config):
    """Distinct information points (budget, decision maker ...) recorded in the stage being left."""

    kind: Literal[EvidenceKind.info_points]
    min_count: InfoPointCount = 1


_ANY_EVIDENCE_KEY = frozenset().union(
    *(kind.model_fields for kind in (ActivityEvidence, AttachmentEvidence, NotesEvidence, InfoPointsEvidence))
)


def _evidence_checked(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """The requirement's own errors, with its `kind` named when unknown, and a key of another kind
    of evidence (`min_count` on notes) called not applicable rather than unknown."""
    if isinstance(value, Mapping):
        kind = _as_enum(EvidenceKind, value.get("kind"))
        if kind is None:
            code, message = (
                ("kind.unknown", _unknown_enum(EvidenceKind, value["kind"]))
                if "kind" in value
                else ("missing", "Field required")
            )
            raise _refused_at("EvidenceRequirement", [(("kind",), code, message)], value)
    try:
        return handler(value)
    except ValidationError as refused:
        raise _not_applicable_named(refused, value) from None


def _not_applicable_named(refused: ValidationError, value: Any) -> ValidationError:
    details: list[InitErrorDetails] = []
    for error in refused.errors():
        key = error["loc"][-1] if error["loc"] else None
        if error["type"] == "extra_forbidden" and key in _ANY_EVIDENCE_KEY:
            kind = value["kind"]
            details.append(
                {
                    "type": _refusal("field.not_applicable", f"{key} does not apply to {kind} evidence"),
                    "loc": error["loc"],
                    "input": error["input"],
                }
            )
        else:
            details.append(
                {
                    "type": PydanticCustomError(error["type"], "{reason}", {"reason": error["msg"]}),
                    "loc": error["loc"],
                    "input": error["input"],
                }
            )
    return ValidationError.from_exception_data(refused.title, details)


EvidenceRequirement = Annotated[
    ActivityEvidence | AttachmentEvidence | NotesEvidence | InfoPointsEvidence,
    Field(discriminator="kind"),
    WrapValidator(_evidence_checked),
]
"""What a stage asks to have been gathered in the stage before it; `kind` says which."""


class ActionSpec(_Config):
    """A task the opportunity's owner gets when the opportunity enters the stage."""

    title: ActionTitle
    due_after_business_hours: DueHours


class StageSpec(_Config):
    name: StageName
    kind: KnownStageKind
    probability: Probability = Field(description="Percent; a won stage has 100, a lost one 0.")
    required_fields: Annotated[
        tuple[RequiredField, ...],
        Field(max_length=len(OPPORTUNITY_REQUIRED_FIELDS)),
        AfterValidator(_distinct),
    ] = Field(default=(), description="Opportunity fields that must be filled in to enter.")
    # Checked against what was gathered in the stage being left, because that is where the work happens:
    # the needs list that lets a deal into 方案呈现 is collected during 需求诊断.
    required_evidence: Annotated[tuple[EvidenceRequirement, ...], Field(max_length=MAX_EVIDENCE)] = Field(
        default=(),
        description="Evidence gathered in the previous stage to enter this one (none on the first stage).",
    )
    max_dwell_hours: DwellHours | None = Field(
        default=None, description="Longer in the stage counts as overdue; null: no limit."
    )
    actions: Annotated[tuple[ActionSpec, ...], Field(max_length=MAX_ACTIONS)] = Field(
        default=(), description="Tasks the owner gets on entry, due in business hours."
    )

    @model_validator(mode="after")
    def _closed_stage_probability(self) -> Self:
        fixed = _CLOSED_PROBABILITY.get(self.kind)
        if fixed is not None and self.probability != fixed:
            message = f"a {self.kind} stage has probability {fixed}; got {self.probability}"
            raise _refused_at(
                "StageSpec", [(("probability",), "probability.mismatch", message)], self.probability
            )
        return self


class OrderingRule(_Config):
    """An activity of type `then` is expected only after one of type `first` on the same opportunity."""

    first: KnownActivityType
    then: KnownActivityType
    mode: KnownOrderingMode = Field(
        default=OrderingMode.flag, description="reject: refuse the activity; flag: accept it with a warning."
    )

    @model_validator(mode="after")
    def _two_types(self) -> Self:
        if self.then is self.first:
            raise _refused_at(
                "OrderingRule", [(("then",), "value.invalid", "then must differ from first")], self.then
            )
        return self


_STAGE_LIST: TypeAdapter[list[StageSpec]] = TypeAdapter(list[StageSpec])
_ORDERING_RULE_LIST: TypeAdapter[list[OrderingRule]] = TypeAdapter(
    Annotated[list[OrderingRule], Field(max_length=MAX_ORDERING_RULES)]
)


def parse_stages(raw: Any) -> list[StageSpec]:
    """Validated stages, or InvalidInput naming every problem at once, each with its field path."""
    stages: list[StageSpec] = []
    try:
        stages = _STAGE_LIST.validate_python(raw)
        errors = []
    except ValidationError as refused:
        errors = validation_field_errors(refused.errors(), {"stages": raw}, prefix=("stages",))
    errors += stage_list_errors(raw)
    if errors:
        raise InvalidInput("The pipeline's stages cannot be used.", code="pipeline.invalid", errors=errors)
    return stages


def check_stage_list(raw: Any) -> None:
    """The rules of a stage list as a whole (InvalidInput), for a body whose stages the schema checks."""
    errors = stage_list_errors(raw)
    if errors:
        raise InvalidInput("The pipeline's stages cannot be used.", code="pipeline.invalid", errors=errors)


def stage_list_errors(raw: Any) -> list[FieldError]:
    """What is wrong with the stages together: their number, names, kinds and order. Read from the
    stages as sent, so a stage refused for its own values still counts (its name is still taken)."""
    if not isinstance(raw, list | tuple):
        return []
    errors: list[FieldError] = []
    if not MIN_STAGES <= len(raw) <= MAX_STAGES:
        errors.append(
            FieldError(
                "stages",
                "stages.count",
                f"a pipeline has {MIN_STAGES} to {MAX_STAGES} stages; got {len(raw)}",
            )
        )
    items = [item if isinstance(item, Mapping) else {} for item in raw]
    if items and items[0].get("required_evidence"):
        errors.append(
            FieldError(
                "stages[0].required_evidence",
                "evidence.first_stage",
                "opportunities start in the first stage, so there is no earlier stage to gather evidence in",
            )
        )
    names = [_name_as_sent(item.get("name")) for item in items]
    kinds = [_as_enum(StageKind, item.get("kind")) for item in items]
    if raw:
        _check_names(names, errors)
        _check_kinds(names, kinds, errors)
    return errors


def _name_as_sent(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_STAGE_NAME:
        return None
    return value.strip()


def parse_ordering_rules(raw: Any) -> tuple[OrderingRule, ...]:
    """Validated ordering rules, or InvalidInput naming every problem with its field path."""
    rules: list[OrderingRule] = []
    try:
        rules = _ORDERING_RULE_LIST.validate_python(raw)
        errors = []
    except ValidationError as refused:
        errors = validation_field_errors(
            refused.errors(), {"ordering_rules": raw}, prefix=("ordering_rules",)
        )
    errors += ordering_rule_list_errors(raw)
    if errors:
        raise InvalidInput(
            "The activity ordering rules cannot be used.", code="ordering_rules.invalid", errors=errors
        )
    return tuple(rules)


def check_ordering_rule_list(raw: Any) -> None:
    """The rules of the list as a whole (InvalidInput), for a body whose rules the schema checks."""
    errors = ordering_rule_list_errors(raw)
    if errors:
        raise InvalidInput(
            "The activity ordering rules cannot be used.", code="ordering_rules.invalid", errors=errors
        )


def ordering_rule_list_errors(raw: Any) -> list[FieldError]:
    """A valid rule that repeats the pair of types of an earlier valid one."""
    if not isinstance(raw, list | tuple):
        return []
    errors: list[FieldError] = []
    pairs: set[tuple[ActivityType, ActivityType]] = set()
    for index, item in enumerate(raw):
        try:
            rule = OrderingRule.model_validate(item)
        except ValidationError:
            continue
        if (rule.first, rule.then) in pairs:
            message = f"{rule.first.value} before {rule.then.value} is already a rule"
            errors.append(FieldError(f"ordering_rules[{index}]", "rule.duplicate", message))
        pairs.add((rule.first, rule.then))
    return errors


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
    match requirement:
        case ActivityEvidence():
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
        case AttachmentEvidence():
            if evidence.attachment_count >= requirement.min_count:
                return None
            needed = _plural(requirement.min_count, "attachment", "attachments")
            return (
                f"needs {needed} in this stage (uploaded to the deal or one of its activities, or sent "
                f"with the change); found {evidence.attachment_count}"
            )
        case NotesEvidence():
            if evidence.longest_note_chars >= requirement.min_chars:
                return None
            return (
                f"needs a note of at least {requirement.min_chars} characters in this stage; "
                f"the longest has {evidence.longest_note_chars}"
            )
        case InfoPointsEvidence():
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


# Quoting before the customer has seen the product is flagged for the manager, not refused.
DEFAULT_ORDERING_RULES: tuple[OrderingRule, ...] = (
    OrderingRule(first=ActivityType.demo, then=ActivityType.quote_sent, mode=OrderingMode.flag),
)


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


def _stage(name: str, kind: StageKind, probability: int, **rest: Any) -> StageSpec:
    return StageSpec(name=name, kind=kind, probability=probability, **rest)


def _activity(*types: ActivityType, min_count: int = 1) -> ActivityEvidence:
    return ActivityEvidence(kind=EvidenceKind.activity, min_count=min_count, activity_types=types)


def _notes(min_chars: int) -> NotesEvidence:
    return NotesEvidence(kind=EvidenceKind.notes, min_chars=min_chars)


def _info_points(min_count: int) -> InfoPointsEvidence:
    return InfoPointsEvidence(kind=EvidenceKind.info_points, min_count=min_count)


def _attachments(min_count: int) -> AttachmentEvidence:
    return AttachmentEvidence(kind=EvidenceKind.attachment, min_count=min_count)


def _action(title: str, due_after_business_hours: int) -> ActionSpec:
    return ActionSpec(title=title, due_after_business_hours=due_after_business_hours)


# After the customer has seen the solution: send references while interest is high, then ask how it landed.
_POST_DEMO_ACTIONS = (_action("发送案例资料", 48), _action("满意度回访", 72))

# Long projects with many stakeholders (工程、集成): the decision chain must be known before a proposal.
PROJECT_SALES_TEMPLATE: tuple[StageSpec, ...] = (
    _stage("初步接触", StageKind.open, 10, max_dwell_hours=168),
    _stage(
        "需求诊断",
        StageKind.open,
        25,
        required_fields=("contact_id",),
        required_evidence=(_activity(ActivityType.call, ActivityType.visit, ActivityType.meeting),),
        max_dwell_hours=240,
    ),
    _stage(
        "方案呈现",
        StageKind.open,
        50,
        required_fields=("amount", "contact_id", "product_lines", "description"),
        required_evidence=(_info_points(3), _notes(50)),
        max_dwell_hours=336,
    ),
    _stage(
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
    _stage(
        "签约交付",
        StageKind.won,
        100,
        required_fields=("amount", "expected_close_date", "contact_id"),
        required_evidence=(_attachments(1),),
    ),
    # Managers review lost deals, so the reason has to be written down.
    _stage("输单", StageKind.lost, 0, required_evidence=(_notes(20),)),
)

# Shorter, repeatable B2B sales: a demo is the turning point before a quote.
B2B_TEMPLATE: tuple[StageSpec, ...] = (
    _stage("触达", StageKind.open, 10, max_dwell_hours=120),
    _stage(
        "需求确认",
        StageKind.open,
        20,
        required_fields=("contact_id",),
        required_evidence=(_notes(30),),
        max_dwell_hours=240,
    ),
    _stage(
        "方案演示",
        StageKind.open,
        40,
        required_fields=("product_lines",),
        required_evidence=(_info_points(3),),
        max_dwell_hours=240,
    ),
    _stage(
        "报价谈判",
        StageKind.open,
        70,
        required_fields=("amount", "expected_close_date"),
        required_evidence=(_activity(ActivityType.demo),),
        max_dwell_hours=336,
        actions=_POST_DEMO_ACTIONS,
    ),
    _stage(
        "赢单",
        StageKind.won,
        100,
        required_fields=("amount", "expected_close_date"),
        required_evidence=(_attachments(1),),
    ),
    _stage("输单", StageKind.lost, 0, required_evidence=(_notes(10),)),
)

TEMPLATES: dict[str, tuple[StageSpec, ...]] = {
    "项目型销售": PROJECT_SALES_TEMPLATE,
    "B2B 标准流程": B2B_TEMPLATE,
}
