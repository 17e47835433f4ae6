"""Automatic lead assignment: which rule matches, who is eligible, who gets the lead.

`Router.decide` is shared by the assignment run and the simulation, so a simulation answers what
the run would do. A run locks the waiting leads it takes (skipping those another run holds) and
then the organization's rules, so concurrent workers advance a round-robin pointer one at a time
and a lead is assigned once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.assignment.assignment import (
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
from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadStatus
from app.domain.models import AssignmentKind, AssignmentRule, Lead, LeadAssignment, TeamMember, User
from app.domain.organization.policy import OrganizationPolicy
from app.domain.platform.errors import InvalidInput
from app.services.assignment import lead_ownership
from app.services.organization.policy import policy_for
from app.services.platform.jobs import JobName, JobRequest, enqueue_after_commit

ASSIGN_BATCH = 100
# Leads created within this window share one assignment run on the arq queue (see JobRequest):
# at 100 leads/s a run assigns about five leads and reads the rules and loads once for them.
ASSIGN_WINDOW_SECONDS = 0.05
# Kinds of assignment that count as a rep's new leads of the day.
NEW_LEAD_KINDS = (AssignmentKind.rule, AssignmentKind.fallback, AssignmentKind.manual, AssignmentKind.claim)


def request_assignment(session: AsyncSession, lead: Lead) -> None:
    """Asks for the lead to be assigned once the current transaction commits."""
    enqueue_after_commit(
        session,
        JobRequest(
            JobName.assign_waiting_leads, job_id=f"assign:{lead.id}", batch_seconds=ASSIGN_WINDOW_SECONDS
        ),
    )


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


class Router:
    """Decides who gets leads, reading each organization's policy and rules and each rule's
    candidates once per transaction, and counting up a rep's load as leads are given out, so a
    run that assigns many leads asks the database for them once.

    With `lock_rules` (the assignment run) an organization's enabled rules are locked, in id order,
    before its first decision: concurrent runs then take turns per organization, each reads the
    round-robin pointers and loads the previous one committed, and two runs never wait on each
    other's rules in opposite orders. The simulation reads without locking.
    """

    def __init__(self, session: AsyncSession, *, now: datetime, lock_rules: bool) -> None:
        self.session = session
        self.now = now
        self.lock_rules = lock_rules
        self._policies: dict[uuid.UUID, OrganizationPolicy] = {}
        self._rules: dict[uuid.UUID, list[AssignmentRule]] = {}
        # Keyed by (organization, rule id), or (organization, None) for the fallback team.
        self._candidates: dict[tuple[uuid.UUID, uuid.UUID | None], list[Candidate]] = {}

    async def policy(self, organization_id: uuid.UUID) -> OrganizationPolicy:
        if organization_id not in self._policies:
            self._policies[organization_id] = await policy_for(
                self.session, Principal.system(organization_id)
            )
        return self._policies[organization_id]

    async def decide(
        self, organization_id: uuid.UUID, fields: Mapping[str, Any]
    ) -> tuple[Decision, AssignmentRule | None]:
        """Who gets a lead with these fields, and by which rule."""
        policy = await self.policy(organization_id)
        rules = await self._enabled_rules(organization_id)
        views = [rule_view(rule) for rule in rules]
        matched_view, evaluations = first_matching(views, fields)
        matched = next((r for r in rules if matched_view and r.id == matched_view.id), None)
        rule_verdicts: list[CandidateVerdict] = []
        if matched is not None and matched_view is not None:
            if (organization_id, matched.id) not in self._candidates:
                members = await rule_member_ids(self.session, matched)
                self._candidates[organization_id, matched.id] = await load_candidates(
                    self.session,
                    organization_id,
                    members,
                    policy=policy,
                    now=self.now,
                    weights=matched.weights,
                )
            rule_verdicts = [
                judge(candidate, matched_view.caps, self.now)
                for candidate in self._candidates[organization_id, matched.id]
            ]
            choice = choose(matched_view.strategy, rule_verdicts, matched_view.position)
            if choice.user_id is not None:
                return Decision(matched_view, evaluations, rule_verdicts, choice), matched
        fallback_verdicts, fallback_choice = await self._fallback(organization_id, policy)
        decision = Decision(
            matched_view,
            evaluations,
            rule_verdicts,
            fallback_choice,
            fallback="team" if fallback_choice else "pool",
            fallback_verdicts=fallback_verdicts,
        )
        return decision, matched

    def given(self, organization_id: uuid.UUID, rule_id: uuid.UUID | None, user_id: uuid.UUID) -> None:
        """Counts a lead just given to `user_id` into the loads the next decisions see."""
        pool = self._candidates.get((organization_id, rule_id), [])
        for index, candidate in enumerate(pool):
            if candidate.user_id == user_id:
                pool[index] = replace(
                    candidate, open_leads=candidate.open_leads + 1, new_today=candidate.new_today + 1
                )

    async def _enabled_rules(self, organization_id: uuid.UUID) -> list[AssignmentRule]:
        if organization_id not in self._rules:
            if self.lock_rules:
                await self.session.execute(
                    select(AssignmentRule.id)
                    .where(
                        AssignmentRule.organization_id == organization_id, AssignmentRule.enabled.is_(True)
                    )
                    .order_by(AssignmentRule.id)
                    .with_for_update()
                )
            self._rules[organization_id] = await enabled_rules(self.session, organization_id)
        return self._rules[organization_id]

    async def _fallback(
        self, organization_id: uuid.UUID, policy: OrganizationPolicy
    ) -> tuple[list[CandidateVerdict], Choice | None]:
        """The fallback team's least-loaded available member, if the organization names a team."""
        team_id = policy.assignment.fallback_team_id
        if team_id is None:
            return [], None
        if (organization_id, None) not in self._candidates:
            members = await team_member_ids(self.session, organization_id, team_id)
            self._candidates[organization_id, None] = await load_candidates(
                self.session, organization_id, members, policy=policy, now=self.now
            )
        verdicts = [
            judge(candidate, Caps(), self.now) for candidate in self._candidates[organization_id, None]
        ]
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


async def assign_waiting_leads(
    session: AsyncSession, *, now: datetime, limit: int = ASSIGN_BATCH
) -> list[Lead]:
    """Assigns leads waiting for assignment, oldest first, at most `limit`; returns them.

    Leads another run holds are skipped (SKIP LOCKED), so concurrent runs share the work and a
    lead is assigned once; run again, this finds nothing to do.
    """
    waiting = (
        await session.scalars(
            select(Lead)
            .where(Lead.status == LeadStatus.new, Lead.owner_id.is_(None))
            .order_by(Lead.created_at, Lead.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    ).all()
    router = Router(session, now=now, lock_rules=True)
    # Organization by organization in one order, so two runs lock their rules in the same order.
    for lead in sorted(waiting, key=lambda lead: str(lead.organization_id)):
        await _assign(router, lead)
    await session.flush()
    return list(waiting)


async def _assign(router: Router, lead: Lead) -> None:
    actor = Principal.system(lead.organization_id)
    try:
        decision, rule = await router.decide(lead.organization_id, lead_fields(lead))
    except InvalidInput as broken:
        # A rule stored with conditions this version cannot read: the lead goes to the pool with
        # the reason rather than blocking every run behind it.
        await lead_ownership.put_in_pool(
            router.session,
            lead,
            kind=AssignmentKind.fallback,
            actor=actor,
            now=router.now,
            reason=f"assignment rules unreadable: {broken.detail}",
        )
        return
    reason = explain(decision)
    if decision.user_id is None:
        await lead_ownership.put_in_pool(
            router.session, lead, kind=AssignmentKind.fallback, actor=actor, now=router.now, reason=reason
        )
        return
    by_rule = decision.fallback is None and rule is not None
    if by_rule and rule is not None and decision.choice is not None:
        rule.position = decision.choice.next_position
    router.given(lead.organization_id, rule.id if by_rule and rule is not None else None, decision.user_id)
    await lead_ownership.give_to(
        router.session,
        lead,
        owner_id=decision.user_id,
        kind=AssignmentKind.rule if by_rule else AssignmentKind.fallback,
        actor=actor,
        now=router.now,
        reason=reason,
        rule_id=rule.id if by_rule and rule is not None else None,
        strategy=decision.rule.strategy.value if by_rule and decision.rule else "least_loaded",
    )
