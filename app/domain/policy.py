"""An organization's configurable business rules, read from its settings with safe defaults."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from app.domain.activities import EntryRule, FollowUpRule
from app.domain.business_time import WorkingHours
from app.domain.calendars import (
    BusinessCalendar,
    Interval,
    china_calendar,
    china_supported_years,
    parse_calendar,
)
from app.domain.custom_fields import FieldDefinition, definitions_from_settings
from app.domain.customer_health import HealthPolicy, parse_health_policy
from app.domain.customer_tier import TierThresholds
from app.domain.engagement import TemperaturePolicy, parse_temperature_policy
from app.domain.kpis import PeiRequirements, parse_pei
from app.domain.lead_intent import IntentPolicy, parse_intent_policy
from app.domain.lead_qualification import QualificationCriteria, parse_criteria
from app.domain.leads import LeadStatus
from app.domain.next_actions import NextActionRules, parse_next_action_rules
from app.domain.quote_approval import DiscountLimits, parse_discount_limits
from app.domain.quotes import DEFAULT_SPREAD_LIMIT, parse_spread_limit
from app.domain.sla import RagThresholds, parse_rag_thresholds
from app.domain.tasks import TaskRules, parse_task_rules

DEFAULT_OPEN_STATUSES = frozenset({LeadStatus.assigned, LeadStatus.contacted, LeadStatus.qualified})


@dataclass(frozen=True)
class AssignmentPolicy:
    # Lead statuses that count towards a rep's load (least_loaded, caps).
    open_statuses: frozenset[LeadStatus] = DEFAULT_OPEN_STATUSES
    # When no rule matches or nobody is eligible: this team's least-loaded rep, else the pool.
    fallback_team_id: uuid.UUID | None = None


@dataclass(frozen=True)
class PoolPolicy:
    # Released when no effective follow-up came within this many business hours of assignment.
    first_follow_up_business_hours: int = 72
    # Released when the last effective follow-up is older than this many days.
    idle_days: int = 30
    # The owner a lead was taken from may not claim it back for this many days.
    reclaim_block_days: int = 7
    max_claims_per_day: int = 20
    # A rep at or above this many open leads cannot claim more.
    max_open_leads: int = 200
    # A pooled lead's phone, e-mail and WeChat id are masked until claimed (domain/contact_masking).
    mask_contacts: bool = True


@dataclass(frozen=True)
class OrganizationPolicy:
    tier_thresholds: TierThresholds = field(default_factory=TierThresholds)
    follow_up_rule: FollowUpRule = field(default_factory=FollowUpRule)
    # rapidfuzz score (0-100) from which two company names are reported as possible duplicates.
    company_match_threshold: float = 90.0
    # A visit check-in farther than this from the customer's coordinates is flagged.
    geo_mismatch_m: float = 1000.0
    customer_fields: tuple[FieldDefinition, ...] = ()
    lead_fields: tuple[FieldDefinition, ...] = ()
    opportunity_fields: tuple[FieldDefinition, ...] = ()
    contact_fields: tuple[FieldDefinition, ...] = ()
    activity_fields: tuple[FieldDefinition, ...] = ()
    assignment: AssignmentPolicy = field(default_factory=AssignmentPolicy)
    lead_pool: PoolPolicy = field(default_factory=PoolPolicy)
    working_hours: WorkingHours = field(default_factory=WorkingHours)
    # What SLA timers count: working hours, plus holidays and make-up days where configured.
    business_calendar: BusinessCalendar = field(
        default_factory=lambda: BusinessCalendar(
            "Asia/Shanghai", {d: (Interval(time(9), time(18)),) for d in range(1, 6)}
        )
    )
    # A quote price farther than this share from another rep's recent price to the customer alerts.
    price_spread_limit: Decimal = DEFAULT_SPREAD_LIMIT
    # How late a plan (next task, SLA timer) may run before the status board shows yellow, then red.
    rag_thresholds: RagThresholds = field(default_factory=RagThresholds)
    # Required actions per rep and week: the process-execution index's denominator.
    pei: PeiRequirements = field(default_factory=PeiRequirements)
    # How far back an activity may be dated, and from when its entry is late.
    activity_entry: EntryRule = field(default_factory=EntryRule)
    # What a lead must show before it may be qualified.
    lead_qualification: QualificationCriteria = field(default_factory=QualificationCriteria)
    # How far below list each role may quote before someone above must approve.
    discount_limits: DiscountLimits = field(default_factory=DiscountLimits)
    # Scores (docs/scoring.md): engagement temperature's decay and weights, the lead intent score's.
    temperature: TemperaturePolicy = field(default_factory=TemperaturePolicy)
    lead_intent: IntentPolicy = field(default_factory=IntentPolicy)
    # Customer health's factor weights, per-tier expectations and bands (`scoring.health`).
    health: HealthPolicy = field(default_factory=HealthPolicy)
    # When an open task runs overdue (`tasks.overdue_after_minutes`).
    tasks: TaskRules = field(default_factory=TaskRules)
    # What next-best actions are mined from, and when a customer's own calls speak (`next_actions`).
    next_actions: NextActionRules = field(default_factory=NextActionRules)


def _non_negative_int(value: Any, name: str) -> int:
    number = int(value)
    if number < 0 or isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number >= 0")
    return number


def _assignment_policy(settings: dict[str, Any]) -> AssignmentPolicy:
    raw = settings.get("assignment", {})
    default = AssignmentPolicy()
    fallback = raw.get("fallback_team_id")
    return AssignmentPolicy(
        open_statuses=frozenset(LeadStatus(s) for s in raw.get("open_statuses", default.open_statuses)),
        fallback_team_id=uuid.UUID(str(fallback)) if fallback else None,
    )


def _pool_policy(settings: dict[str, Any]) -> PoolPolicy:
    raw = settings.get("lead_pool", {})
    default = PoolPolicy()
    mask_contacts = raw.get("mask_contacts", default.mask_contacts)
    if not isinstance(mask_contacts, bool):
        raise ValueError("lead_pool.mask_contacts must be true or false")
    return PoolPolicy(
        **{
            name: _non_negative_int(raw.get(name, getattr(default, name)), f"lead_pool.{name}")
            for name in PoolPolicy.__dataclass_fields__
            if name != "mask_contacts"
        },
        mask_contacts=mask_contacts,
    )


def _working_hours(settings: dict[str, Any], timezone: str) -> WorkingHours:
    raw = settings.get("working_hours", {})
    default = WorkingHours()
    return WorkingHours(
        timezone=timezone,
        start=time.fromisoformat(raw["start"]) if "start" in raw else default.start,
        end=time.fromisoformat(raw["end"]) if "end" in raw else default.end,
        weekdays=frozenset(int(d) for d in raw.get("weekdays", default.weekdays)),
    )


def business_calendar(settings: dict[str, Any], timezone: str, hours: WorkingHours) -> BusinessCalendar:
    """The organization's business calendar: `business_calendar` from its settings when given;
    else its working hours, with China's public holidays and make-up days (all years the installed
    holiday data covers) when `public_holidays` is "CN"."""
    if "business_calendar" in settings:
        return parse_calendar({"timezone": timezone, **settings["business_calendar"]})
    week = {day: (Interval(hours.start, hours.end),) for day in hours.weekdays}
    region = settings.get("public_holidays")
    if region is None:
        return BusinessCalendar(timezone, week)
    if region != "CN":
        raise ValueError('public_holidays is "CN" or absent')
    return _china(timezone, tuple(sorted(week.items())))


@cache
def _china(timezone: str, week: tuple[tuple[int, tuple[Interval, ...]], ...]) -> BusinessCalendar:
    return china_calendar(china_supported_years(), timezone=timezone, week=dict(week))


def policy_from_settings(settings: dict[str, Any], timezone: str = "Asia/Shanghai") -> OrganizationPolicy:
    tiers = settings.get("tier_thresholds", {})
    follow_up = settings.get("follow_up", {})
    default = OrganizationPolicy()
    hours = _working_hours(settings, timezone)
    temperature = parse_temperature_policy(_scoring(settings))
    return OrganizationPolicy(
        tier_thresholds=TierThresholds(
            a_min=Decimal(str(tiers.get("a_min", default.tier_thresholds.a_min))),
            b_min=Decimal(str(tiers.get("b_min", default.tier_thresholds.b_min))),
        ),
        follow_up_rule=FollowUpRule(
            min_info_points=int(follow_up.get("min_info_points", default.follow_up_rule.min_info_points)),
            connected_call_counts=bool(
                follow_up.get("connected_call_counts", default.follow_up_rule.connected_call_counts)
            ),
        ),
        company_match_threshold=float(
            settings.get("company_match_threshold", default.company_match_threshold)
        ),
        geo_mismatch_m=float(settings.get("geo_mismatch_m", default.geo_mismatch_m)),
        customer_fields=tuple(definitions_from_settings(settings, "customer")),
        lead_fields=tuple(definitions_from_settings(settings, "lead")),
        opportunity_fields=tuple(definitions_from_settings(settings, "opportunity")),
        contact_fields=tuple(definitions_from_settings(settings, "contact")),
        activity_fields=tuple(definitions_from_settings(settings, "activity")),
        assignment=_assignment_policy(settings),
        lead_pool=_pool_policy(settings),
        working_hours=hours,
        business_calendar=business_calendar(settings, timezone, hours),
        price_spread_limit=(
            parse_spread_limit(settings["price_spread_limit"])
            if settings.get("price_spread_limit") is not None
            else default.price_spread_limit
        ),
        rag_thresholds=parse_rag_thresholds(settings),
        pei=parse_pei(settings),
        activity_entry=_entry_rule(settings),
        discount_limits=parse_discount_limits(settings),
        lead_qualification=parse_criteria(
            settings, [definition.key for definition in definitions_from_settings(settings, "lead")]
        ),
        temperature=temperature,
        lead_intent=parse_intent_policy(_scoring(settings)),
        health=replace(parse_health_policy(settings), temperature_half_life=temperature.half_life),
        tasks=parse_task_rules(settings),
        next_actions=parse_next_action_rules(settings),
    )


def _entry_rule(settings: dict[str, Any]) -> EntryRule:
    raw = settings.get("activity_entry", {})
    default = EntryRule()
    return EntryRule(
        max_before_record=timedelta(
            hours=_non_negative_int(
                raw.get("max_hours_before_record", default.max_before_record.total_seconds() // 3600),
                "activity_entry.max_hours_before_record",
            )
        ),
        late_after=timedelta(
            hours=_non_negative_int(
                raw.get("late_entry_hours", default.late_after.total_seconds() // 3600),
                "activity_entry.late_entry_hours",
            )
        ),
    )


def _scoring(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings `scoring`: one object, a key per score (each score's parser reads its own)."""
    scoring = settings.get("scoring", {})
    if not isinstance(scoring, dict):
        raise ValueError("scoring is an object with a key per score")
    return scoring
