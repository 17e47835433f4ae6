"""Lead assignment rules: conditions over lead fields, and how a strategy picks a rep.

Pure functions: the service loads rules, candidates and their loads, and both the real assignment
and the simulation call `decide`, so a simulation answers exactly what assignment would do.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from app.domain.platform.custom_fields import custom_field_key
from app.domain.platform.errors import FieldError, InvalidInput


class Operator(StrEnum):
    eq = "eq"
    in_ = "in"
    not_in = "not_in"
    gte = "gte"
    lte = "lte"
    contains = "contains"


class Strategy(StrEnum):
    round_robin = "round_robin"
    least_loaded = "least_loaded"
    weighted = "weighted"


# Lead fields a condition may test; custom fields are named `custom_fields.<key>`.
CONDITION_FIELDS = frozenset({"region", "product_line", "industry", "source", "budget", "tags", "company"})
_NUMERIC_OPERATORS = frozenset({Operator.gte, Operator.lte})
_LIST_OPERATORS = frozenset({Operator.in_, Operator.not_in})
MAX_CONDITIONS = 20
MAX_WEIGHT = 100


@dataclass(frozen=True)
class Condition:
    field: str
    operator: Operator
    value: Any

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "operator": self.operator.value, "value": self.value}


def _is_known_field(name: str) -> bool:
    return name in CONDITION_FIELDS or custom_field_key(name) is not None


def parse_conditions(raw: Sequence[Mapping[str, Any]], *, prefix: str = "conditions") -> list[Condition]:
    """Validated conditions, or InvalidInput naming every unknown field, operator or bad value."""
    errors: list[FieldError] = []
    conditions: list[Condition] = []
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise InvalidInput(
            "The rule's conditions cannot be used.",
            code="assignment_rule.invalid",
            errors=[FieldError(prefix, "value.invalid", "conditions must be a list")],
        )
    if len(raw) > MAX_CONDITIONS:
        errors.append(FieldError(prefix, "too_many", f"at most {MAX_CONDITIONS} conditions"))
    for index, item in enumerate(raw):
        where = f"{prefix}[{index}]"
        if not isinstance(item, Mapping):
            errors.append(FieldError(where, "value.invalid", "a condition must be an object"))
            continue
        name, operator, value = item.get("field"), item.get("operator"), item.get("value")
        if not isinstance(name, str) or not _is_known_field(name):
            errors.append(FieldError(f"{where}.field", "field.unknown", f"unknown lead field {name!r}"[:200]))
            continue
        if not isinstance(operator, str) or operator not in Operator.__members__.values():
            errors.append(
                FieldError(f"{where}.operator", "operator.unknown", f"unknown operator {operator!r}"[:200])
            )
            continue
        op = Operator(operator)
        problem = _value_problem(op, value)
        if problem:
            errors.append(FieldError(f"{where}.value", "value.invalid", problem))
            continue
        conditions.append(Condition(name, op, value))
    if errors:
        raise InvalidInput(
            "The rule's conditions cannot be used.", code="assignment_rule.invalid", errors=errors
        )
    return conditions


def _value_problem(operator: Operator, value: Any) -> str | None:
    if operator in _LIST_OPERATORS:
        if not isinstance(value, list) or not value or len(value) > 200:
            return f"{operator.value} needs a list of 1 to 200 values"
        return None
    if operator in _NUMERIC_OPERATORS:
        if isinstance(value, bool) or _as_decimal(value) is None:
            return f"{operator.value} needs a number"
        return None
    if value is None or isinstance(value, list | dict):
        return f"{operator.value} needs a single value"
    return None


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _text(value: Any) -> str:
    return str(value).strip().casefold()


def lead_field_value(lead: Mapping[str, Any], name: str) -> Any:
    key = custom_field_key(name)
    if key is not None:
        return (lead.get("custom_fields") or {}).get(key)
    return lead.get(name)


def condition_holds(condition: Condition, lead: Mapping[str, Any]) -> bool:
    """Text compares case-insensitively; a missing value satisfies only `not_in`."""
    actual = lead_field_value(lead, condition.field)
    values = actual if isinstance(actual, list) else ([] if actual is None else [actual])
    texts = {_text(v) for v in values}
    match condition.operator:
        case Operator.eq:
            return _text(condition.value) in texts
        case Operator.in_:
            return bool(texts & {_text(v) for v in condition.value})
        case Operator.not_in:
            return not texts & {_text(v) for v in condition.value}
        case Operator.contains:
            return any(_text(condition.value) in text for text in texts)
        case Operator.gte | Operator.lte:
            threshold = _as_decimal(condition.value)
            numbers = [n for n in (_as_decimal(v) for v in values) if n is not None]
            if threshold is None or not numbers:
                return False
            if condition.operator is Operator.gte:
                return any(n >= threshold for n in numbers)
            return any(n <= threshold for n in numbers)


def failed_conditions(conditions: Sequence[Condition], lead: Mapping[str, Any]) -> list[Condition]:
    return [condition for condition in conditions if not condition_holds(condition, lead)]


@dataclass(frozen=True)
class Caps:
    max_open_leads: int | None = None
    max_new_per_day: int | None = None


@dataclass(frozen=True)
class Candidate:
    user_id: uuid.UUID
    name: str
    is_active: bool
    is_available: bool
    unavailable_until: datetime | None
    open_leads: int
    new_today: int
    weight: int = 1


@dataclass(frozen=True)
class CandidateVerdict:
    candidate: Candidate
    eligible: bool
    reason: str | None


def judge(candidate: Candidate, caps: Caps, now: datetime) -> CandidateVerdict:
    """Whether a rep may get one more lead now, and if not, why."""
    reason = None
    if not candidate.is_active:
        reason = "inactive"
    elif not candidate.is_available:
        reason = "marked unavailable"
    elif candidate.unavailable_until is not None and candidate.unavailable_until > now:
        reason = f"unavailable until {candidate.unavailable_until.isoformat()}"
    elif caps.max_open_leads is not None and candidate.open_leads >= caps.max_open_leads:
        reason = f"at the cap of {caps.max_open_leads} open leads"
    elif caps.max_new_per_day is not None and candidate.new_today >= caps.max_new_per_day:
        reason = f"at the cap of {caps.max_new_per_day} new leads today"
    return CandidateVerdict(candidate, reason is None, reason)


def rotation(candidates: Sequence[Candidate], strategy: Strategy) -> list[uuid.UUID]:
    """The cycle a pointer walks: each rep once (round robin) or `weight` times, interleaved.

    Interleaving is nginx's smooth weighted round robin, computed from the weights alone, so the
    persisted pointer (a position in the cycle) is all the state a rule needs.
    """
    ordered = sorted(candidates, key=lambda c: str(c.user_id))
    if strategy is not Strategy.weighted:
        return [c.user_id for c in ordered]
    weights = {c.user_id: max(c.weight, 0) for c in ordered}
    total = sum(weights.values())
    current = dict.fromkeys(weights, 0)
    cycle = []
    for _ in range(total):
        for user_id, weight in weights.items():
            current[user_id] += weight
        chosen = max(ordered, key=lambda c: current[c.user_id]).user_id
        current[chosen] -= total
        cycle.append(chosen)
    return cycle


@dataclass(frozen=True)
class Choice:
    user_id: uuid.UUID | None
    next_position: int
    reason: str


def choose(strategy: Strategy, verdicts: Sequence[CandidateVerdict], position: int) -> Choice:
    """The rep a strategy picks among eligible candidates, and the rule's next pointer position."""
    eligible = [v.candidate for v in verdicts if v.eligible]
    if not eligible:
        return Choice(None, position, "no eligible rep")
    if strategy is Strategy.least_loaded:
        pick = min(eligible, key=lambda c: (c.open_leads, c.new_today, str(c.user_id)))
        return Choice(pick.user_id, position, f"fewest open leads ({pick.open_leads})")
    cycle = rotation([v.candidate for v in verdicts], strategy)
    eligible_ids = {c.user_id for c in eligible}
    for step in range(len(cycle)):
        index = (position + step) % len(cycle)
        if cycle[index] in eligible_ids:
            skipped = f", {step} ineligible skipped" if step else ""
            return Choice(
                cycle[index], index + 1, f"{strategy.value} turn {index + 1} of {len(cycle)}{skipped}"
            )
    return Choice(None, position, "no eligible rep has a weight above 0")


@dataclass(frozen=True)
class RuleView:
    """What `decide` needs of a stored rule."""

    id: uuid.UUID
    name: str
    conditions: list[Condition]
    strategy: Strategy
    caps: Caps
    position: int


@dataclass(frozen=True)
class RuleEvaluation:
    rule: RuleView
    failed: list[Condition]

    @property
    def matched(self) -> bool:
        return not self.failed


def first_matching(
    rules: Sequence[RuleView], lead: Mapping[str, Any]
) -> tuple[RuleView | None, list[RuleEvaluation]]:
    """Rules are tried in priority order; the first whose conditions all hold wins."""
    evaluations = []
    for rule in rules:
        evaluation = RuleEvaluation(rule, failed_conditions(rule.conditions, lead))
        evaluations.append(evaluation)
        if evaluation.matched:
            return rule, evaluations
    return None, evaluations


@dataclass(frozen=True)
class Decision:
    rule: RuleView | None
    evaluations: list[RuleEvaluation]
    verdicts: list[CandidateVerdict] = field(default_factory=list)
    choice: Choice | None = None
    # "team" (the organization's fallback team) or "pool" when the rules gave nobody.
    fallback: str | None = None
    fallback_verdicts: list[CandidateVerdict] = field(default_factory=list)

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.choice.user_id if self.choice else None


class AssignmentKind(StrEnum):
    rule = "rule"
    fallback = "fallback"
    manual = "manual"
    claim = "claim"
    release = "release"
    recycle = "recycle"
    handover = "handover"
