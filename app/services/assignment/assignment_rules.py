"""Assignment rules: create, read, change, delete, and simulate who would get a lead."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.assignment.assignment import MAX_WEIGHT, Decision, Strategy, parse_conditions
from app.domain.identity.principal import Principal
from app.domain.models import AssignmentRule, Team, User
from app.domain.platform.errors import FieldError, InvalidInput
from app.services.assignment.assignment import Router, explain
from app.services.platform import audit
from app.services.platform.common import OrganizationList, UniqueName, check_version, get_visible

AUDITED_FIELDS = (
    "name",
    "priority",
    "enabled",
    "conditions",
    "strategy",
    "user_ids",
    "team_ids",
    "weights",
    "max_open_leads",
    "max_new_per_day",
)

_NAME = UniqueName(AssignmentRule, "An assignment rule")


@dataclass(frozen=True)
class NewRule:
    name: str
    priority: int
    strategy: Strategy
    conditions: list[dict[str, Any]] = field(default_factory=list)
    user_ids: list[uuid.UUID] = field(default_factory=list)
    team_ids: list[uuid.UUID] = field(default_factory=list)
    weights: dict[uuid.UUID, int] = field(default_factory=dict)
    enabled: bool = True
    max_open_leads: int | None = None
    max_new_per_day: int | None = None


async def _missing(
    session: AsyncSession, model: Any, organization_id: uuid.UUID, ids: set[uuid.UUID]
) -> set[uuid.UUID]:
    if not ids:
        return set()
    found = await session.scalars(
        select(model.id).where(model.organization_id == organization_id, model.id.in_(ids))
    )
    return ids - set(found)


async def _validated(session: AsyncSession, actor: Principal, values: dict[str, Any]) -> dict[str, Any]:
    """Checks a rule's full content and returns it in stored form (ids as text)."""
    parse_conditions(values["conditions"])
    errors: list[FieldError] = []
    user_ids, team_ids = set(values["user_ids"]), set(values["team_ids"])
    if not user_ids and not team_ids:
        errors.append(FieldError("user_ids", "missing", "name at least one user or team"))
    for name, model, ids in (("user_ids", User, user_ids), ("team_ids", Team, team_ids)):
        for missing in sorted(await _missing(session, model, actor.organization_id, ids), key=str):
            errors.append(FieldError(name, "not_found", str(missing)))
    weights = {uuid.UUID(str(k)): v for k, v in values["weights"].items()}
    for user_id, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
            errors.append(
                FieldError(f"weights.{user_id}", "out_of_range", f"a whole number 0 to {MAX_WEIGHT}")
            )
    if errors:
        raise InvalidInput("The rule cannot be used.", code="assignment_rule.invalid", errors=errors)
    return {
        **values,
        "user_ids": [str(u) for u in dict.fromkeys(values["user_ids"])],
        "team_ids": [str(t) for t in dict.fromkeys(values["team_ids"])],
        "weights": {str(k): v for k, v in weights.items()},
    }


async def create_rule(session: AsyncSession, *, actor: Principal, data: NewRule) -> AssignmentRule:
    await _NAME.ensure_free(session, actor, data.name)
    values = await _validated(
        session,
        actor,
        {name: getattr(data, name) for name in AUDITED_FIELDS},
    )
    rule = AssignmentRule(organization_id=actor.organization_id, **values)
    session.add(rule)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="assignment_rule.created",
        entity_type="assignment_rule",
        entity_id=rule.id,
        after=audit.snapshot(rule, AUDITED_FIELDS),
    )
    return rule


async def get_rule(
    session: AsyncSession, *, actor: Principal, rule_id: uuid.UUID, for_update: bool = False
) -> AssignmentRule:
    return await get_visible(session, AssignmentRule, rule_id, actor=actor, for_update=for_update)


_RULE_SORTABLE = {"priority": AssignmentRule.priority, "updated_at": AssignmentRule.updated_at}
list_rules = OrganizationList(AssignmentRule, _RULE_SORTABLE, default_sort="priority")


async def update_rule(
    session: AsyncSession,
    *,
    actor: Principal,
    rule_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
) -> AssignmentRule:
    rule = await get_rule(session, actor=actor, rule_id=rule_id, for_update=True)
    if "name" in changes and changes["name"] != rule.name:
        await _NAME.ensure_free(session, actor, changes["name"], exclude=rule.id)
    current = {
        **{name: getattr(rule, name) for name in AUDITED_FIELDS},
        "user_ids": [uuid.UUID(u) for u in rule.user_ids],
        "team_ids": [uuid.UUID(t) for t in rule.team_ids],
    }
    values = await _validated(session, actor, {**current, **changes})
    check_version(rule, expected_version)
    before = audit.snapshot(rule, AUDITED_FIELDS)
    for name in changes:
        setattr(rule, name, values[name])
    await session.flush()
    await audit.record_edit(session, actor, rule, before, entity_type="assignment_rule")
    return rule


async def delete_rule(session: AsyncSession, *, actor: Principal, rule_id: uuid.UUID) -> None:
    rule = await get_rule(session, actor=actor, rule_id=rule_id, for_update=True)
    await audit.record_audit(
        session,
        actor=actor,
        action="assignment_rule.deleted",
        entity_type="assignment_rule",
        entity_id=rule.id,
        before=audit.snapshot(rule, AUDITED_FIELDS),
    )
    await session.delete(rule)
    await session.flush()


@dataclass(frozen=True)
class Simulation:
    decision: Decision
    explanation: str


async def simulate(
    session: AsyncSession, *, actor: Principal, fields: dict[str, Any], now: datetime
) -> Simulation:
    """What the assignment job would decide for a lead with these fields now; writes nothing."""
    if fields.get("budget") is not None:
        fields = {**fields, "budget": Decimal(str(fields["budget"]))}
    router = Router(session, now=now, lock_rules=False)
    decision, _ = await router.decide(actor.organization_id, fields)
    return Simulation(decision, explain(decision))
