"""Automatic lead assignment: which rule matches, who is eligible, who gets the lead.

`decide` is shared by the assignment job and the simulation, so a simulation answers what the job
would do. The job holds the lead's row lock and then the matched rule's, so concurrent workers
advance a round-robin pointer one at a time and a lead is assigned once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.assignment import (
    Candidate,
    CandidateVerdict,
    Caps,
    Choice,
    Decision,
    RuleView,
    Strategy,
    choose,
    first_matching,
    judge,
    parse_conditions,
)
from app.domain.leads import LeadStatus
from app.domain.models import AssignmentKind, AssignmentRule, Lead, LeadAssignment, TeamMember, User
from app.domain.policy import OrganizationPolicy
from app.domain.principal import Principal
from app.services import lead_ownership
from app.services.jobs import JobRequest, enqueue_after_commit
from app.services.policy import policy_for

ASSIGN_LEAD_JOB = "assign_lead"
# Kinds of assignment that count as a rep's new leads of the day.
NEW_LEAD_KINDS = (AssignmentKind.rule, AssignmentKind.fallback, AssignmentKind.manual, AssignmentKind.claim)
# The sweeper leaves younger leads to their own job.
SWEEP_GRACE = timedelta(seconds=30)
SWEEP_BATCH = 500


def assign_lead_job(lead_id: uuid.UUID) -> JobRequest:
    return JobRequest(ASSIGN_LEAD_JOB, args=(str(lead_id),), job_id=f"assign:{lead_id}")


def request_assignment(session: AsyncSession, lead: Lead) -> None:
    """Asks for the lead to be assigned once the current transaction commits."""
    enqueue_after_commit(session, assign_lead_job(lead.id))


def lead_fields(lead: Lead) -> dict[str, Any]:
    return {
        "region": lead.region,
        "product_line": lead.product_line,
        "industry": lead.industry,
        "source": lead.source.value,
        "budget": lead.budget,
        "tags": lead.tags,
        "company": lead.company,
        "custom_fields": lead.custom_fields,
    }


def rule_view(rule: AssignmentRule) -> RuleView:
    return RuleView(
        id=rule.id,
        name=rule.name,
        conditions=parse_conditions(rule.conditions),
        strategy=rule.strategy,
        caps=Caps(max_open_leads=rule.max_open_leads, max_new_per_day=rule.max_new_per_day),
        position=rule.position,
    )


async def enabled_rules(session: AsyncSession, organization_id: uuid.UUID) -> list[AssignmentRule]:
    rules = await session.scalars(
        select(AssignmentRule)
        .where(AssignmentRule.organization_id == organization_id, AssignmentRule.enabled.is_(True))
        .order_by(AssignmentRule.priority, AssignmentRule.name)
    )
    return list(rules)


async def rule_member_ids(session: AsyncSession, rule: AssignmentRule) -> list[uuid.UUID]:
    """The rule's users and the members of its teams, each once."""
    members = [uuid.UUID(u) for u in rule.user_ids]
    if rule.team_ids:
        members += await session.scalars(
            select(TeamMember.user_id).where(
                TeamMember.organization_id == rule.organization_id,
                TeamMember.team_id.in_([uuid.UUID(t) for t in rule.team_ids]),
            )
        )
    return list(dict.fromkeys(members))


async def team_member_ids(
    session: AsyncSession, organization_id: uuid.UUID, team_id: uuid.UUID
) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(TeamMember.user_id).where(
            TeamMember.organization_id == organization_id, TeamMember.team_id == team_id
        )
    )
    return list(rows)


def start_of_day(now: datetime, timezone: str) -> datetime:
    local = now.astimezone(ZoneInfo(timezone))
    return datetime.combine(local.date(), time(0), ZoneInfo(timezone))


async def load_candidates(
    session: AsyncSession,
    organization_id: uuid.UUID,
    user_ids: Sequence[uuid.UUID],
    *,
    policy: OrganizationPolicy,
    now: datetime,
    weights: Mapping[str, Any] | None = None,
) -> list[Candidate]:
    """Each user with their open leads and today's new leads, in three grouped queries."""
    if not user_ids:
        return []
    users = (
        await session.scalars(
            select(User).where(User.organization_id == organization_id, User.id.in_(user_ids))
        )
    ).all()
    open_rows = await session.execute(
        select(Lead.owner_id, func.count())
        .where(
            Lead.organization_id == organization_id,
            Lead.owner_id.in_(user_ids),
            Lead.status.in_(policy.assignment.open_statuses),
        )
        .group_by(Lead.owner_id)
    )
    open_counts: dict[uuid.UUID | None, int] = dict(open_rows.all())
    new_rows = await session.execute(
        select(LeadAssignment.user_id, func.count())
        .where(
            LeadAssignment.organization_id == organization_id,
            LeadAssignment.user_id.in_(user_ids),
            LeadAssignment.kind.in_(NEW_LEAD_KINDS),
            LeadAssignment.occurred_at >= start_of_day(now, policy.working_hours.timezone),
        )
        .group_by(LeadAssignment.user_id)
    )
    new_counts: dict[uuid.UUID | None, int] = dict(new_rows.all())
    return [
        Candidate(
            user_id=user.id,
            name=user.display_name,
            is_active=user.is_active,
            is_available=user.is_available,
            unavailable_until=user.unavailable_until,
            open_leads=open_counts.get(user.id, 0),
            new_today=new_counts.get(user.id, 0),
            weight=int((weights or {}).get(str(user.id), 1)),
        )
        for user in users
    ]


async def decide(
    session: AsyncSession,
    organization_id: uuid.UUID,
    fields: Mapping[str, Any],
    *,
    policy: OrganizationPolicy,
    now: datetime,
    lock_rule: bool,
) -> tuple[Decision, AssignmentRule | None]:
    """Who gets a lead with these fields. With `lock_rule` the matched rule's row is locked and
    re-read first, so its pointer is the one the choice advances."""
    rules = await enabled_rules(session, organization_id)
    views = [rule_view(rule) for rule in rules]
    matched_view, evaluations = first_matching(views, fields)
    matched = next((r for r in rules if matched_view and r.id == matched_view.id), None)
    if matched is not None and matched_view is not None:
        if lock_rule:
            locked = await session.scalar(
                select(AssignmentRule)
                .where(AssignmentRule.id == matched.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            matched = locked or matched
            matched_view = rule_view(matched)
        members = await rule_member_ids(session, matched)
        candidates = await load_candidates(
            session, organization_id, members, policy=policy, now=now, weights=matched.weights
        )
        rule_verdicts = [judge(candidate, matched_view.caps, now) for candidate in candidates]
        choice = choose(matched_view.strategy, rule_verdicts, matched_view.position)
        if choice.user_id is not None:
            return Decision(matched_view, evaluations, rule_verdicts, choice), matched
    else:
        rule_verdicts = []
    fallback_verdicts, fallback_choice = await _fallback(session, organization_id, policy=policy, now=now)
    return (
        Decision(
            matched_view,
            evaluations,
            rule_verdicts,
            fallback_choice,
            fallback="team" if fallback_choice else "pool",
            fallback_verdicts=fallback_verdicts,
        ),
        matched,
    )


async def _fallback(
    session: AsyncSession, organization_id: uuid.UUID, *, policy: OrganizationPolicy, now: datetime
) -> tuple[list[CandidateVerdict], Choice | None]:
    """The fallback team's least-loaded available member, if the organization names a team."""
    team_id = policy.assignment.fallback_team_id
    if team_id is None:
        return [], None
    members = await team_member_ids(session, organization_id, team_id)
    candidates = await load_candidates(session, organization_id, members, policy=policy, now=now)
    verdicts = [judge(candidate, Caps(), now) for candidate in candidates]
    fallback_choice = choose(Strategy.least_loaded, verdicts, 0)
    return verdicts, fallback_choice if fallback_choice.user_id else None


def explain(decision: Decision) -> str:
    if decision.fallback == "pool":
        why = f"rule {decision.rule.name!r} had no eligible rep" if decision.rule else "no rule matched"
        return f"{why}; sent to the lead pool"
    if decision.fallback == "team":
        why = f"rule {decision.rule.name!r} had no eligible rep" if decision.rule else "no rule matched"
        return f"{why}; fallback team, {decision.choice.reason if decision.choice else ''}"
    rule_name = decision.rule.name if decision.rule else "?"
    return f"rule {rule_name!r}: {decision.choice.reason if decision.choice else ''}"


async def assign_lead(session: AsyncSession, *, lead_id: uuid.UUID, now: datetime) -> Lead | None:
    """Assigns a waiting lead by the rules; a lead already owned, pooled or closed is left alone."""
    lead = await session.scalar(
        select(Lead).where(Lead.id == lead_id).with_for_update().execution_options(populate_existing=True)
    )
    if lead is None or lead.owner_id is not None or lead.status is not LeadStatus.new:
        return None
    actor = Principal.system(lead.organization_id)
    policy = await policy_for(session, actor)
    decision, rule = await decide(
        session, lead.organization_id, lead_fields(lead), policy=policy, now=now, lock_rule=True
    )
    reason = explain(decision)
    if decision.user_id is None:
        await lead_ownership.put_in_pool(
            session, lead, kind=AssignmentKind.fallback, actor=actor, now=now, reason=reason
        )
        return lead
    by_rule = decision.fallback is None and rule is not None and decision.rule is not None
    if by_rule and rule is not None and decision.choice is not None:
        rule.position = decision.choice.next_position
    await lead_ownership.give_to(
        session,
        lead,
        owner_id=decision.user_id,
        kind=AssignmentKind.fallback if decision.fallback else AssignmentKind.rule,
        actor=actor,
        now=now,
        reason=reason,
        rule_id=rule.id if rule is not None and decision.fallback is None else None,
        strategy=(
            decision.rule.strategy.value if decision.rule and not decision.fallback else "least_loaded"
        ),
    )
    await session.flush()
    return lead


async def waiting_lead_ids(
    session: AsyncSession, *, now: datetime, limit: int = SWEEP_BATCH
) -> list[uuid.UUID]:
    """Leads still waiting for assignment after their own job should have run (Redis down, job lost)."""
    rows = await session.scalars(
        select(Lead.id)
        .where(
            Lead.status == LeadStatus.new,
            Lead.owner_id.is_(None),
            Lead.created_at <= now - SWEEP_GRACE,
        )
        .order_by(Lead.created_at)
        .limit(limit)
    )
    return list(rows)
