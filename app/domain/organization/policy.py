"""An organization's configurable business rules, built from its typed settings
(domain/organization/organization_settings.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from app.domain.activities.activities import EntryRule, FollowUpRule
from app.domain.activities.tasks import TaskRules
from app.domain.customers.customer_tier import TierThresholds
from app.domain.leads.lead_qualification import QualificationCriteria
from app.domain.leads.leads import LeadStatus
from app.domain.organization.organization_settings import (
    CustomFieldDefinition,
    HealthSettings,
    LeadIntentSettings,
    OrganizationSettings,
    effective_settings,
)
from app.domain.pipelines.next_actions import NextActionRules
from app.domain.platform.custom_fields import FieldDefinition
from app.domain.quotes.quote_approval import DiscountLimits
from app.domain.reports.kpis import PeiRequirements
from app.domain.scores.customer_health import HealthPolicy
from app.domain.scores.engagement import TemperaturePolicy
from app.domain.scores.lead_intent import IntentPolicy
from app.domain.sla.business_time import WorkingHours
from app.domain.sla.calendars import (
    BusinessCalendar,
    Interval,
    china_calendar,
    china_supported_years,
    parse_calendar,
)
from app.domain.sla.sla import RagThresholds

# The rules as the services read them. Their values, defaults included, come from one place: the
# settings model (domain/organization/organization_settings.py), through policy_of; no default is kept here.


@dataclass(frozen=True)
class AssignmentPolicy:
    # Lead statuses that count towards a rep's load (least_loaded, caps).
    open_statuses: frozenset[LeadStatus]
    # When no rule matches or nobody is eligible: this team's least-loaded rep, else the pool.
    fallback_team_id: uuid.UUID | None


@dataclass(frozen=True)
class PoolPolicy:
    # Released when no effective follow-up came within this many business hours of assignment.
    first_follow_up_business_hours: int
    # Released when the last effective follow-up is older than this many days.
    idle_days: int
    # The owner a lead was taken from may not claim it back for this many days.
    reclaim_block_days: int
    max_claims_per_day: int
    # A rep at or above this many open leads cannot claim more.
    max_open_leads: int
    # A pooled lead's phone, e-mail and WeChat id are masked until claimed (domain/contact_masking).
    mask_contacts: bool


@dataclass(frozen=True)
class OrganizationPolicy:
    tier_thresholds: TierThresholds
    follow_up_rule: FollowUpRule
    # rapidfuzz score (0-100) from which two company names are reported as possible duplicates.
    company_match_threshold: float
    # A visit check-in farther than this from the customer's coordinates is flagged.
    geo_mismatch_m: float
    customer_fields: tuple[FieldDefinition, ...]
    lead_fields: tuple[FieldDefinition, ...]
    opportunity_fields: tuple[FieldDefinition, ...]
    contact_fields: tuple[FieldDefinition, ...]
    activity_fields: tuple[FieldDefinition, ...]
    assignment: AssignmentPolicy
    lead_pool: PoolPolicy
    working_hours: WorkingHours
    # What SLA timers count: working hours, plus holidays and make-up days where configured.
    business_calendar: BusinessCalendar
    # A quote price farther than this share from another rep's recent price to the customer alerts.
    price_spread_limit: Decimal
    # How late a plan (next task, SLA timer) may run before the status board shows yellow, then red.
    rag_thresholds: RagThresholds
    # Required actions per rep and week: the process-execution index's denominator.
    pei: PeiRequirements
    # How far back an activity may be dated, and from when its entry is late.
    activity_entry: EntryRule
    # What a lead must show before it may be qualified.
    lead_qualification: QualificationCriteria
    # How far below list each role may quote before someone above must approve.
    discount_limits: DiscountLimits
    # Scores (docs/scoring.md): engagement temperature's decay and weights, the lead intent score's.
    temperature: TemperaturePolicy
    lead_intent: IntentPolicy
    # Customer health's factor weights, per-tier expectations and bands (`scoring.health`).
    health: HealthPolicy
    # When an open task runs overdue (`tasks.overdue_after_minutes`).
    tasks: TaskRules
    # What next-best actions are mined from, and when a customer's own calls speak (`next_actions`).
    next_actions: NextActionRules


def policy_from_settings(stored: Any, timezone: str = "Asia/Shanghai") -> OrganizationPolicy:
    """The rules of an organization's stored settings (a part this version cannot use falls back to
    its default: organization_settings.usable_settings)."""
    return policy_of(effective_settings(stored), timezone)


def policy_of(settings: OrganizationSettings, timezone: str) -> OrganizationPolicy:
    hours = WorkingHours(
        timezone=timezone,
        start=settings.working_hours.start,
        end=settings.working_hours.end,
        weekdays=frozenset(settings.working_hours.weekdays),
    )
    temperature = TemperaturePolicy(
        half_life_days=settings.scoring.temperature.half_life_days,
        weights=settings.scoring.temperature.weights,
    )
    fields = settings.custom_fields
    return OrganizationPolicy(
        tier_thresholds=TierThresholds(
            a_min=settings.tier_thresholds.a_min, b_min=settings.tier_thresholds.b_min
        ),
        follow_up_rule=FollowUpRule(
            min_info_points=settings.follow_up.min_info_points,
            connected_call_counts=settings.follow_up.connected_call_counts,
        ),
        company_match_threshold=settings.company_match_threshold,
        geo_mismatch_m=settings.geo_mismatch_m,
        customer_fields=_definitions(fields.customer),
        lead_fields=_definitions(fields.lead),
        opportunity_fields=_definitions(fields.opportunity),
        contact_fields=_definitions(fields.contact),
        activity_fields=_definitions(fields.activity),
        assignment=AssignmentPolicy(
            open_statuses=frozenset(settings.assignment.open_statuses),
            fallback_team_id=settings.assignment.fallback_team_id,
        ),
        lead_pool=PoolPolicy(**settings.lead_pool.model_dump()),
        working_hours=hours,
        business_calendar=business_calendar(settings, timezone, hours),
        price_spread_limit=settings.price_spread_limit,
        rag_thresholds=RagThresholds(
            yellow_after=timedelta(hours=settings.rag_yellow_after_hours),
            red_after=timedelta(hours=settings.rag_red_after_hours),
        ),
        pei=PeiRequirements(
            activities=tuple(sorted((kind.value, count) for kind, count in settings.pei.activities.items())),
            action_pack_tasks=settings.pei.action_pack_tasks,
        ),
        activity_entry=EntryRule(
            max_before_record=timedelta(hours=settings.activity_entry.max_hours_before_record),
            late_after=timedelta(hours=settings.activity_entry.late_entry_hours),
        ),
        lead_qualification=QualificationCriteria(
            fields=tuple(settings.lead_qualification.fields),
            info_points=tuple(settings.lead_qualification.info_points),
        ),
        discount_limits=DiscountLimits(**settings.quote_approval.max_discount.model_dump()),
        temperature=temperature,
        lead_intent=_lead_intent(settings.scoring.lead_intent),
        health=_health(settings.scoring.health, temperature),
        tasks=TaskRules(overdue_after=timedelta(minutes=settings.tasks.overdue_after_minutes)),
        next_actions=NextActionRules(**settings.next_actions.model_dump()),
    )


def _lead_intent(intent: LeadIntentSettings) -> IntentPolicy:
    return IntentPolicy(
        weights=intent.weights,
        contact_window_days=intent.contact_window_days,
        contacts_for_full=intent.contacts_for_full,
        hot_temperature=intent.hot_temperature,
        meetings_for_full=intent.meetings_for_full,
        source_quality={source.value: quality for source, quality in intent.source_quality.items()},
    )


def _health(health: HealthSettings, temperature: TemperaturePolicy) -> HealthPolicy:
    # The health factor cools the temperature with the half-life the customer's temperature shows.
    return HealthPolicy(
        weights=health.weights,
        follow_up_days=health.follow_up_days,
        won_expected={tier: amount.normalize() for tier, amount in health.won_expected.items()},
        breaches_to_zero=health.breaches_to_zero,
        temperature_full=health.temperature_full,
        temperature_half_life=temperature.half_life,
        green_min=health.bands.green_min,
        yellow_min=health.bands.yellow_min,
    )


def _definitions(fields: list[CustomFieldDefinition]) -> tuple[FieldDefinition, ...]:
    return tuple(
        FieldDefinition(
            key=field.key, type=field.type, is_required=field.required, options=tuple(field.options)
        )
        for field in fields
    )


def business_calendar(settings: OrganizationSettings, timezone: str, hours: WorkingHours) -> BusinessCalendar:
    """The organization's business calendar: `business_calendar` from its settings when given;
    else its working hours, with China's public holidays and make-up days (all years the installed
    holiday data covers) when `public_holidays` is "CN"."""
    if settings.business_calendar is not None:
        return parse_calendar({"timezone": timezone, **settings.business_calendar.model_dump()})
    week = {day: (Interval(hours.start, hours.end),) for day in hours.weekdays}
    if settings.public_holidays is None:
        return BusinessCalendar(timezone, week)
    return _china(timezone, tuple(sorted(week.items())))


@cache
def _china(timezone: str, week: tuple[tuple[int, tuple[Interval, ...]], ...]) -> BusinessCalendar:
    return china_calendar(china_supported_years(), timezone=timezone, week=dict(week))
