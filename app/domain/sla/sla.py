"""Service-level agreements: how long work may wait, in business time, and what happens when it waits
longer — a warning, a breach, escalations — each exactly once.

Pure: a timer's whole schedule (warn, due, each escalation) is computed when it starts, so deciding
what is due at an instant needs no calendar and a sweep over many timers is a comparison of
instants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from app.domain.platform.errors import FieldError, InvalidInput


class SlaKind(StrEnum):
    first_response = "first_response"  # lead assigned -> first effective follow-up
    stage_dwell = "stage_dwell"  # opportunity enters a stage -> leaves it
    follow_up = "follow_up"  # customer without effective follow-up for N hours
    handover_response = "handover_response"  # marketing hands a lead to sales -> sales follows up


class TimerState(StrEnum):
    running = "running"
    warned = "warned"
    breached = "breached"
    escalated = "escalated"
    met = "met"
    cancelled = "cancelled"


ACTIVE_STATES = frozenset({TimerState.running, TimerState.warned, TimerState.breached, TimerState.escalated})
STOPPED_STATES = frozenset(TimerState) - ACTIVE_STATES


class NotifyRole(StrEnum):
    owner = "owner"
    supervisor = "supervisor"
    director = "director"


class EscalationAction(StrEnum):
    """What an escalation step does to a lead besides telling people."""

    reassign_to_supervisor = "reassign_to_supervisor"
    release_to_pool = "release_to_pool"


# Kinds whose subject is a lead, the only record an escalation may take from its owner.
LEAD_KINDS = frozenset({SlaKind.first_response, SlaKind.handover_response})


class RagStatus(StrEnum):
    green = "green"
    yellow = "yellow"
    red = "red"


class SubjectType(StrEnum):
    """What an SLA timer or a status-board row is about."""

    lead = "lead"
    opportunity = "opportunity"
    customer = "customer"


MAX_TARGET_MINUTES = 60 * 24 * 365
MAX_STEPS = 5
_POLICY_KEYS = frozenset({"warn_percent", "steps", "sources", "tiers"})


@dataclass(frozen=True)
class EscalationStep:
    after_minutes: int  # business minutes past due
    notify: tuple[NotifyRole, ...]
    action: EscalationAction | None = None

    def as_dict(self) -> dict[str, Any]:
        step: dict[str, Any] = {"after_minutes": self.after_minutes, "notify": [r.value for r in self.notify]}
        if self.action is not None:
            step["action"] = self.action.value
        return step


@dataclass(frozen=True)
class PolicyRules:
    """What a policy says beyond its kind and target."""

    warn_percent: int = 80
    steps: tuple[EscalationStep, ...] = ()
    sources: frozenset[str] = frozenset()  # first_response: only leads from these sources (empty: all)
    tiers: frozenset[str] = frozenset()  # follow_up: only customers of these tiers (empty: all)

    def as_dict(self) -> dict[str, Any]:
        return {
            "warn_percent": self.warn_percent,
            "steps": [step.as_dict() for step in self.steps],
            "sources": sorted(self.sources),
            "tiers": sorted(self.tiers),
        }

    def applies_to(self, fields: Mapping[str, Any]) -> bool:
        if self.sources and fields.get("source") not in self.sources:
            return False
        return not (self.tiers and fields.get("tier") not in self.tiers)


def _whole(value: Any, low: int, high: int, path: str, errors: list[FieldError]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors.append(FieldError(path, "value.out_of_range", f"a whole number from {low} to {high}"))
        return None
    return value


def _names(raw: Any, path: str, errors: list[FieldError]) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        errors.append(FieldError(path, "type", "a list of names"))
        return frozenset()
    return frozenset(raw)


def parse_rules(raw: Mapping[str, Any], kind: SlaKind | None = None) -> PolicyRules:
    """Validates a policy's rules from JSON, reporting every problem at once, each field named as
    the policy's body does (`rules.steps[0].notify`). With `kind`, also that escalation actions are
    only asked of policies that time leads."""
    if not isinstance(raw, Mapping):
        raise InvalidInput(
            "The SLA policy cannot be used.",
            code="sla_policy.invalid",
            errors=[FieldError("rules", "type", "an object")],
        )
    errors = [
        FieldError(f"rules.{key}", "unknown", "not a policy field") for key in sorted(set(raw) - _POLICY_KEYS)
    ]
    warn = _whole(raw.get("warn_percent", 80), 1, 99, "rules.warn_percent", errors)
    steps: list[EscalationStep] = []
    raw_steps = raw.get("steps", [])
    if not isinstance(raw_steps, list) or len(raw_steps) > MAX_STEPS:
        errors.append(FieldError("rules.steps", "type", f"a list of at most {MAX_STEPS} steps"))
        raw_steps = []
    previous = -1
    for index, step in enumerate(raw_steps):
        path = f"rules.steps[{index}]"
        if not isinstance(step, dict) or set(step) - {"after_minutes", "notify", "action"}:
            errors.append(FieldError(path, "type", "{after_minutes, notify, action}"))
            continue
        action = _action(step.get("action"), kind, f"{path}.action", errors)
        after = _whole(step.get("after_minutes"), 0, MAX_TARGET_MINUTES, f"{path}.after_minutes", errors)
        roles = step.get("notify", [])
        known = {role.value for role in NotifyRole}
        if (
            not isinstance(roles, list)
            or not roles
            or not all(isinstance(r, str) and r in known for r in roles)
        ):
            errors.append(
                FieldError(f"{path}.notify", "invalid", f"one or more of {', '.join(sorted(known))}")
            )
            continue
        if after is not None and after <= previous:
            errors.append(
                FieldError(f"{path}.after_minutes", "order", "each step comes later than the one before")
            )
        if after is not None:
            previous = after
            steps.append(EscalationStep(after, tuple(NotifyRole(r) for r in dict.fromkeys(roles)), action))
    sources = _names(raw.get("sources", []), "rules.sources", errors)
    tiers = _names(raw.get("tiers", []), "rules.tiers", errors)
    if errors or warn is None:
        raise InvalidInput("The SLA policy cannot be used.", code="sla_policy.invalid", errors=errors)
    return PolicyRules(warn_percent=warn, steps=tuple(steps), sources=sources, tiers=tiers)


def _action(raw: Any, kind: SlaKind | None, path: str, errors: list[FieldError]) -> EscalationAction | None:
    if raw is None:
        return None
    known = {action.value for action in EscalationAction}
    if not isinstance(raw, str) or raw not in known:
        errors.append(FieldError(path, "invalid", f"one of {', '.join(sorted(known))}"))
        return None
    if kind is not None and kind not in LEAD_KINDS:
        errors.append(FieldError(path, "not_allowed", "only policies that time leads may move them"))
        return None
    return EscalationAction(raw)


def check_target(kind: SlaKind, target_minutes: int | None) -> None:
    if target_minutes is None and kind is not SlaKind.stage_dwell:
        raise InvalidInput(
            "Only a stage-dwell policy may leave the target to the stage.",
            code="sla_policy.target_required",
            errors=[FieldError("target_minutes", "missing", "give the target in business minutes")],
        )


@dataclass(frozen=True)
class Schedule:
    warn_at: datetime
    due_at: datetime
    escalate_at: tuple[datetime, ...]


def schedule(
    rules: PolicyRules,
    started_at: datetime,
    target_minutes: int,
    add_business_minutes: Callable[[datetime, int], datetime],
) -> Schedule:
    due_at = add_business_minutes(started_at, target_minutes)
    return Schedule(
        warn_at=add_business_minutes(started_at, target_minutes * rules.warn_percent // 100),
        due_at=due_at,
        escalate_at=tuple(add_business_minutes(due_at, step.after_minutes) for step in rules.steps),
    )


@dataclass(frozen=True)
class Transition:
    state: TimerState  # warned, breached or escalated
    level: int  # 0 for warned and breached; n for the n-th escalation
    at: datetime


def due_transitions(state: TimerState, level: int, plan: Schedule, now: datetime) -> list[Transition]:
    """What has come due by `now` and not happened yet, in order. A timer found late by a sweep
    catches up: a warning that was missed still happens before the breach, once."""
    if state not in ACTIVE_STATES:
        return []
    due: list[Transition] = []
    if state is TimerState.running and now >= plan.warn_at:
        due.append(Transition(TimerState.warned, 0, plan.warn_at))
    if state in (TimerState.running, TimerState.warned) and now >= plan.due_at:
        due.append(Transition(TimerState.breached, 0, plan.due_at))
    for index, at in enumerate(plan.escalate_at, start=1):
        if index > level and now >= at:
            due.append(Transition(TimerState.escalated, index, at))
    return due


def next_fire_at(state: TimerState, level: int, plan: Schedule) -> datetime | None:
    """When the timer next needs looking at, or None when nothing more can happen to it."""
    if state not in ACTIVE_STATES:
        return None
    if state is TimerState.running:
        return plan.warn_at
    if state is TimerState.warned:
        return plan.due_at
    pending = plan.escalate_at[level:]
    return pending[0] if pending else None


@dataclass(frozen=True)
class RagThresholds:
    """How late a plan may run before it shows yellow, and red: yellow from `yellow_after` late
    (inclusive), red when later than `red_after`. The organization's settings
    `rag_yellow_after_hours` (default 24) and `rag_red_after_hours` (default 72) set them."""

    yellow_after: timedelta = timedelta(hours=24)
    red_after: timedelta = timedelta(hours=72)

    def cutoffs(self, now: datetime) -> tuple[datetime, datetime]:
        """(yellow_due_by, red_due_before): a plan due at or before the first is at least yellow,
        one due before the second is red. The status board compares plans with these in SQL, so
        both evaluations share one definition."""
        return now - self.yellow_after, now - self.red_after


def rag_status(due_at: datetime | None, now: datetime, thresholds: RagThresholds) -> RagStatus:
    """Green on plan or without one; yellow late by `yellow_after` up to `red_after`; red beyond."""
    yellow_due_by, red_due_before = thresholds.cutoffs(now)
    if due_at is None or due_at > yellow_due_by:
        return RagStatus.green
    return RagStatus.red if due_at < red_due_before else RagStatus.yellow


MAX_RAG_HOURS = 24 * 365


def step_of(rules: PolicyRules, transition: Transition) -> EscalationStep:
    """The escalation step an `escalated` transition carries out."""
    return rules.steps[transition.level - 1]


def step_roles(rules: PolicyRules, transition: Transition) -> Sequence[NotifyRole]:
    """Who hears of a transition: the owner of a warning, the owner and supervisors of a breach,
    and whom the escalation step names."""
    if transition.state is TimerState.warned:
        return (NotifyRole.owner,)
    if transition.state is TimerState.breached:
        return (NotifyRole.owner, NotifyRole.supervisor)
    return step_of(rules, transition).notify
