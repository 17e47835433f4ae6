"""An organization's settings: every key the business rules read, typed, with its default, bounds and
meaning. The one description of the stored JSON: the API shows it, a PATCH is checked against it, and
the policy the services read (domain/organization/policy.py) is built from it."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.domain.activities.activities import ActivityType, InfoPoint
from app.domain.activities.tasks import MAX_OVERDUE_AFTER_MINUTES
from app.domain.customers.customer_tier import Tier
from app.domain.leads.lead_qualification import QUALIFYING_FIELDS
from app.domain.leads.leads import LeadSource, LeadStatus
from app.domain.platform.custom_fields import FieldType
from app.domain.platform.errors import InvalidInput, validation_field_errors
from app.domain.platform.merge_patch import merge_patch
from app.domain.quotes.quotes import DEFAULT_SPREAD_LIMIT, MAX_SPREAD_LIMIT, RATIO
from app.domain.scores.customer_health import (
    DEFAULT_FOLLOW_UP_DAYS,
    DEFAULT_WON_EXPECTED,
    HealthFactor,
)
from app.domain.scores.customer_health import DEFAULT_WEIGHTS as DEFAULT_HEALTH_WEIGHTS
from app.domain.scores.engagement import (
    DEFAULT_HALF_LIFE_DAYS,
    MAX_HALF_LIFE_DAYS,
    MAX_WEIGHT,
    EngagementType,
)
from app.domain.scores.engagement import DEFAULT_WEIGHTS as DEFAULT_TEMPERATURE_WEIGHTS
from app.domain.scores.lead_intent import DEFAULT_WEIGHTS as DEFAULT_INTENT_WEIGHTS
from app.domain.scores.lead_intent import Signal
from app.domain.sla.calendars import parse_calendar
from app.domain.sla.sla import MAX_RAG_HOURS

Key = TypeVar("Key")
Value = TypeVar("Value")


class SettingsSection(BaseModel):
    """A part of the settings: every key known (an unknown one is refused, naming it), no NaN."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _refused(reason: str) -> PydanticCustomError:
    """A value the rules cannot use, with the reason as the whole message."""
    return PydanticCustomError("value_error", "{reason}", {"reason": reason})


def _over_defaults(defaults: Mapping[Key, Value]) -> AfterValidator:
    """A per-key map where the keys left out keep their defaults (the effective map is shown whole)."""

    def fill(given: dict[Key, Value]) -> dict[Key, Value]:
        return {**defaults, **given}

    return AfterValidator(fill)


class TierThresholdsSettings(SettingsSection):
    a_min: Decimal = Field(
        default=Decimal("500000"), ge=0, description="Yearly won amount from which a customer is tier A."
    )
    b_min: Decimal = Field(
        validate_default=True,
        default=Decimal("100000"),
        ge=0,
        description="Yearly won amount from which a customer is tier B (below: C).",
    )

    @field_validator("b_min")
    @classmethod
    def _below_a(cls, b_min: Decimal, info: ValidationInfo) -> Decimal:
        a_min = info.data.get("a_min")
        if a_min is not None and not b_min < a_min:
            raise _refused("must be below a_min")
        return b_min


class FollowUpSettings(SettingsSection):
    min_info_points: StrictInt = Field(
        default=3,
        ge=0,
        le=len(InfoPoint),
        description="Information points an activity must record to count as an effective follow-up.",
    )
    connected_call_counts: StrictBool = Field(
        default=True, description="A connected call counts as an effective follow-up whatever it recorded."
    )


class CustomFieldDefinition(SettingsSection):
    key: str = Field(min_length=1, max_length=64, description="The key in the record's custom_fields.")
    type: FieldType = Field(default=FieldType.text, description="What the value must be.")
    required: StrictBool = Field(default=False, description="A record must carry a value.")
    options: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default=[], max_length=200, description="The values a `choice` field may take."
    )


CustomFieldList = Annotated[list[CustomFieldDefinition], Field(max_length=100)]


class CustomFieldsSettings(SettingsSection):
    customer: CustomFieldList = Field(default=[], description="Custom fields of customers.")
    lead: CustomFieldList = Field(default=[], description="Custom fields of leads.")
    opportunity: CustomFieldList = Field(default=[], description="Custom fields of opportunities.")
    contact: CustomFieldList = Field(default=[], description="Custom fields of contacts.")
    activity: CustomFieldList = Field(default=[], description="Custom fields of activities.")


class AssignmentSettings(SettingsSection):
    open_statuses: list[LeadStatus] = Field(
        default=[LeadStatus.assigned, LeadStatus.contacted, LeadStatus.qualified],
        max_length=len(LeadStatus),
        description="Lead statuses that count towards a rep's load (least_loaded, caps).",
    )
    fallback_team_id: uuid.UUID | None = Field(
        default=None,
        description="When no rule matches or nobody is eligible: this team's least-loaded rep; "
        "null: the pool.",
    )


class LeadPoolSettings(SettingsSection):
    first_follow_up_business_hours: StrictInt = Field(
        default=72,
        ge=0,
        le=10_000,
        description="An assigned lead without an effective follow-up within this many business hours "
        "returns to the pool.",
    )
    idle_days: StrictInt = Field(
        default=30,
        ge=0,
        le=3650,
        description="A lead whose last effective follow-up is older than this many days returns to the pool.",
    )
    reclaim_block_days: StrictInt = Field(
        default=7,
        ge=0,
        le=3650,
        description="The owner a lead was taken from may not claim it back for this many days.",
    )
    max_claims_per_day: StrictInt = Field(
        default=20, ge=0, le=100_000, description="Leads a rep may claim from the pool per day."
    )
    max_open_leads: StrictInt = Field(
        default=200, ge=0, le=1_000_000, description="A rep with this many open leads cannot claim more."
    )
    mask_contacts: StrictBool = Field(
        default=True,
        description=(
            "Mask the phone, e-mail and WeChat id of pooled leads (and in notes about them) until claimed"
        ),
    )


def _without_offset(value: time) -> time:
    if value.tzinfo is not None:
        raise _refused("a local time of the organization's time zone, without an offset (09:00)")
    return value


# A wall-clock time in the organization's zone, as the API writes it back ("09:00:00"): not the
# JSON Schema `time` format, which is RFC 3339's full-time and requires an offset.
LocalTime = Annotated[
    time,
    AfterValidator(_without_offset),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
            "description": "HH:MM or HH:MM:SS, local time, no offset",
        }
    ),
]


class WorkingHoursSettings(SettingsSection):
    start: LocalTime = Field(
        default=time(9), description="When the working day starts (HH:MM[:SS], local time, no offset)."
    )
    end: LocalTime = Field(
        validate_default=True,
        default=time(18),
        description="When the working day ends (HH:MM[:SS], local time, no offset).",
    )
    weekdays: list[Annotated[StrictInt, Field(ge=1, le=7)]] = Field(
        default=[1, 2, 3, 4, 5],
        min_length=1,
        max_length=7,
        description="Working days, 1 = Monday to 7 = Sunday.",
    )

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: time, info: ValidationInfo) -> time:
        start = info.data.get("start")
        if start is not None and not start < end:
            raise _refused("must be after start")
        return end


# The JSON schema of a pair names its item type too, for tools that read `items` only (Spectral).
Intervals = list[Annotated[tuple[str, str], Field(json_schema_extra={"items": {"type": "string"}})]]


class BusinessCalendarSettings(SettingsSection):
    """The calendar's JSON form without its time zone (the organization's): checked by the one
    calendar parser (domain/sla/calendars.py) that /business-calendars uses too."""

    week: dict[str, Intervals] = Field(
        description='Working intervals per weekday, "1" = Monday: {"1": [["09:00", "18:00"]]}.'
    )
    holidays: list[str] = Field(default=[], max_length=1000, description='Days off, "YYYY-MM-DD".')
    workdays: dict[str, Intervals] = Field(
        default={}, description='Make-up working days (调休) with their intervals, keyed "YYYY-MM-DD".'
    )

    @model_validator(mode="after")
    def _readable(self) -> BusinessCalendarSettings:
        try:
            parse_calendar({"timezone": "UTC", **self.model_dump()})
        except InvalidInput as exc:
            raise _refused("; ".join(f"{error.field}: {error.message}" for error in exc.errors)) from None
        return self


def _quantized_spread(limit: Decimal) -> Decimal:
    # Spreads are compared at 4 places; a limit that rounds to zero would flag every price.
    rounded = limit.quantize(RATIO, rounding=ROUND_HALF_UP)
    if rounded.is_zero():
        raise _refused(f"must be at least {RATIO}")
    return rounded


Share = Annotated[Decimal, Field(ge=0, le=1)]


class MaxDiscountSettings(SettingsSection):
    rep: Share = Field(default=Decimal("0.10"), description="Deepest share off list a rep quotes unapproved.")
    supervisor: Share = Field(
        validate_default=True,
        default=Decimal("0.20"),
        description="The same for a supervisor; at least rep's.",
    )
    director: Share = Field(
        validate_default=True,
        default=Decimal("0.30"),
        description="The same for a director; at least supervisor's (an admin: no limit).",
    )

    @field_validator("supervisor", "director")
    @classmethod
    def _not_below_the_role_under(cls, share: Decimal, info: ValidationInfo) -> Decimal:
        under = {"supervisor": "rep", "director": "supervisor"}[str(info.field_name)]
        if under in info.data and share < info.data[under]:
            raise _refused(f"must be at least {under}")
        return share


class QuoteApprovalSettings(SettingsSection):
    max_discount: MaxDiscountSettings = Field(
        default_factory=MaxDiscountSettings, description="Discount limits per role."
    )


class PeiSettings(SettingsSection):
    activities: dict[ActivityType, Annotated[StrictInt, Field(ge=1, le=1000)]] = Field(
        default={}, description="Activities each rep must do per week, by type: {visit: 3, call: 20}."
    )
    action_pack_tasks: StrictBool = Field(
        default=False, description="The stage action pack's tasks due in the week count as required too."
    )


class ActivityEntrySettings(SettingsSection):
    max_hours_before_record: StrictInt = Field(
        default=24,
        ge=0,
        le=87_600,
        description="How far before its lead or customer was recorded an activity may be dated.",
    )
    late_entry_hours: StrictInt = Field(
        default=48,
        ge=0,
        le=87_600,
        description="An activity entered this long after it happened is flagged late.",
    )


class LeadQualificationSettings(SettingsSection):
    fields: list[str] = Field(
        default=["budget"],
        max_length=50,
        description="Lead fields that must be known to qualify a lead: "
        f"{', '.join(sorted(QUALIFYING_FIELDS))} or custom_fields.<key> of a lead custom field.",
    )
    info_points: list[InfoPoint] = Field(
        default=[InfoPoint.timeline],
        description="Information points an activity on the lead must have recorded.",
    )


Weight = Annotated[StrictFloat, Field(ge=0, le=MAX_WEIGHT)]


class TemperatureSettings(SettingsSection):
    half_life_days: StrictFloat = Field(
        default=DEFAULT_HALF_LIFE_DAYS,
        ge=0.1,
        le=MAX_HALF_LIFE_DAYS,
        description="Days in which a temperature halves.",
    )
    weights: Annotated[dict[EngagementType, Weight], _over_defaults(DEFAULT_TEMPERATURE_WEIGHTS)] = Field(
        default=dict(DEFAULT_TEMPERATURE_WEIGHTS), description="What one engagement of each type adds."
    )


class LeadIntentSettings(SettingsSection):
    weights: Annotated[dict[Signal, Weight], _over_defaults(DEFAULT_INTENT_WEIGHTS)] = Field(
        default=dict(DEFAULT_INTENT_WEIGHTS), description="Each signal's weight, shared out to 100 points."
    )
    contact_window_days: StrictInt = Field(
        default=30, ge=1, le=365, description="Contact frequency counts activities of this many days."
    )
    contacts_for_full: StrictInt = Field(
        default=5, ge=1, le=1000, description="Activities in the window that score in full."
    )
    hot_temperature: StrictFloat = Field(
        default=30.0, ge=0.1, le=100_000, description="A temperature that scores in full."
    )
    meetings_for_full: StrictInt = Field(
        default=2, ge=1, le=100, description="Meetings attended that score in full."
    )
    source_quality: dict[LeadSource, Annotated[StrictFloat, Field(ge=0, le=1)]] = Field(
        default={}, description="A lead source's quality, 0 to 1, as a share of its weight (unrated: 0.5)."
    )


class HealthBandsSettings(SettingsSection):
    green_min: StrictInt = Field(
        default=70, ge=0, le=100, description="HealthSettings score from which a customer is green."
    )
    yellow_min: StrictInt = Field(
        validate_default=True,
        default=50,
        ge=0,
        le=100,
        description="From which yellow (below: red); at most green_min.",
    )

    @field_validator("yellow_min")
    @classmethod
    def _not_above_green(cls, yellow_min: int, info: ValidationInfo) -> int:
        green_min = info.data.get("green_min")
        if green_min is not None and yellow_min > green_min:
            raise _refused("must be at most green_min")
        return yellow_min


def _some_weight(weights: dict[HealthFactor, float]) -> dict[HealthFactor, float]:
    if not sum(weights.values()) > 0:
        raise _refused("at least one weight must be above 0")
    return weights


class HealthSettings(SettingsSection):
    weights: Annotated[
        dict[HealthFactor, Annotated[StrictFloat, Field(ge=0, le=1e12)]],
        _over_defaults(DEFAULT_HEALTH_WEIGHTS),
        AfterValidator(_some_weight),
    ] = Field(
        default=dict(DEFAULT_HEALTH_WEIGHTS), description="Each factor's weight, shared out to 100 points."
    )
    follow_up_days: Annotated[
        dict[Tier, Annotated[StrictFloat, Field(ge=0.01, le=1e12)]], _over_defaults(DEFAULT_FOLLOW_UP_DAYS)
    ] = Field(
        default=dict(DEFAULT_FOLLOW_UP_DAYS),
        description="Days between effective follow-ups each tier expects.",
    )
    won_expected: Annotated[
        dict[Tier, Annotated[Decimal, Field(ge=Decimal("0.01"), le=Decimal("1e12"))]],
        _over_defaults(DEFAULT_WON_EXPECTED),
    ] = Field(default=dict(DEFAULT_WON_EXPECTED), description="Amount won in 12 months each tier expects.")
    breaches_to_zero: StrictInt = Field(
        default=3, ge=1, le=1000, description="Open SLA breaches that take every point of that factor."
    )
    temperature_full: StrictFloat = Field(
        default=10.0, ge=0.01, le=1e9, description="A temperature worth every point of that factor."
    )
    bands: HealthBandsSettings = Field(default_factory=HealthBandsSettings, description="The score bands.")


class ScoringSettings(SettingsSection):
    temperature: TemperatureSettings = Field(
        default_factory=TemperatureSettings, description="Engagement temperature (docs/scoring.md)."
    )
    lead_intent: LeadIntentSettings = Field(
        default_factory=LeadIntentSettings, description="The lead intent score."
    )
    health: HealthSettings = Field(default_factory=HealthSettings, description="Customer health.")


class TasksSettings(SettingsSection):
    overdue_after_minutes: StrictInt = Field(
        default=60,
        ge=0,
        le=MAX_OVERDUE_AFTER_MINUTES,
        description="An open task this long past its due time is overdue (the red flag).",
    )


class NextActionsSettings(SettingsSection):
    min_support: StrictInt = Field(
        default=3, ge=1, le=1000, description="Won deals through a stage needed before anything is suggested."
    )
    lookback_days: StrictInt = Field(
        default=365, ge=30, le=1830, description="Deals closed this many days back are mined."
    )
    min_customer_calls: StrictInt = Field(
        default=10, ge=1, le=1000, description="Calls from which a customer's own golden hour speaks."
    )


class OrganizationSettings(SettingsSection):
    """Every business rule an organization configures, each key with its effective value."""

    tier_thresholds: TierThresholdsSettings = Field(
        default_factory=TierThresholdsSettings, description="Customer tiers A/B/C."
    )
    follow_up: FollowUpSettings = Field(
        default_factory=FollowUpSettings, description="What counts as an effective follow-up."
    )
    company_match_threshold: StrictFloat = Field(
        default=90.0,
        ge=0,
        le=100,
        description="Name similarity (0-100) from which two companies are possible duplicates.",
    )
    geo_mismatch_m: StrictFloat = Field(
        default=1000.0,
        gt=0,
        le=100_000,
        description="Metres between a visit's check-in and the customer from which the visit is flagged.",
    )
    custom_fields: CustomFieldsSettings = Field(
        default_factory=CustomFieldsSettings, description="Custom field definitions per record kind."
    )
    assignment: AssignmentSettings = Field(
        default_factory=AssignmentSettings, description="Lead assignment (docs/assignment.md)."
    )
    lead_pool: LeadPoolSettings = Field(default_factory=LeadPoolSettings, description="The public lead pool.")
    working_hours: WorkingHoursSettings = Field(
        default_factory=WorkingHoursSettings, description="Business hours for SLA timers."
    )
    public_holidays: Literal["CN"] | None = Field(
        default=None, description='"CN": China\'s public holidays and make-up days are not business time.'
    )
    business_calendar: BusinessCalendarSettings | None = Field(
        default=None,
        description="A whole business calendar instead of working_hours and public_holidays (a default "
        "/business-calendars entry takes precedence).",
    )
    price_spread_limit: Annotated[Decimal, AfterValidator(_quantized_spread)] = Field(
        default=DEFAULT_SPREAD_LIMIT,
        gt=0,
        le=MAX_SPREAD_LIMIT,
        description="A quote price farther than this share from another rep's recent price to the "
        "customer alerts.",
    )
    rag_yellow_after_hours: StrictInt = Field(
        default=24, ge=0, le=MAX_RAG_HOURS, description="Hours late from which the status board shows yellow."
    )
    rag_red_after_hours: StrictInt = Field(
        validate_default=True,
        default=72,
        ge=0,
        le=MAX_RAG_HOURS,
        description="Hours late beyond which it shows red; at least the yellow hours.",
    )
    pei: PeiSettings = Field(
        default_factory=PeiSettings,
        description="Required actions per rep and week (process execution index).",
    )
    activity_entry: ActivityEntrySettings = Field(
        default_factory=ActivityEntrySettings, description="How activities may be dated."
    )
    lead_qualification: LeadQualificationSettings = Field(
        default_factory=LeadQualificationSettings,
        description="What a lead must show before it may be qualified.",
    )
    quote_approval: QuoteApprovalSettings = Field(
        default_factory=QuoteApprovalSettings, description="Who approves deep discounts."
    )
    scoring: ScoringSettings = Field(default_factory=ScoringSettings, description="Scores (docs/scoring.md).")
    tasks: TasksSettings = Field(default_factory=TasksSettings, description="Task rules.")
    next_actions: NextActionsSettings = Field(
        default_factory=NextActionsSettings, description="Next-best actions (docs/playbook.md)."
    )

    @field_validator("rag_red_after_hours")
    @classmethod
    def _not_before_yellow(cls, hours: int, info: ValidationInfo) -> int:
        yellow = info.data.get("rag_yellow_after_hours")
        if yellow is not None and hours < yellow:
            raise _refused("must be at least rag_yellow_after_hours")
        return hours

    @field_validator("lead_qualification")
    @classmethod
    def _known_lead_fields(
        cls, criteria: LeadQualificationSettings, info: ValidationInfo
    ) -> LeadQualificationSettings:
        custom_fields = info.data.get("custom_fields")
        custom_keys = {f"custom_fields.{d.key}" for d in custom_fields.lead} if custom_fields else set()
        unknown = [name for name in criteria.fields if name not in QUALIFYING_FIELDS | custom_keys]
        if unknown:
            raise _refused(f"fields names no lead field or lead custom field: {', '.join(unknown)}")
        return criteria


# Enough rounds to drop every unusable part of any stored document; each round drops at least one.
_MAX_READ_ROUNDS = 50


def usable_settings(stored: Any) -> dict[str, Any]:
    """The stored settings without what this version cannot use: keys written before it knew better,
    or values it refuses. Those parts fall back to their defaults on read, and are left out of the next
    write (docs/settings.md): an old row never fails a request."""
    if not isinstance(stored, dict):
        return {}
    document: dict[str, Any] = stored
    for _ in range(_MAX_READ_ROUNDS):
        try:
            OrganizationSettings.model_validate(document)
        except ValidationError as exc:
            if document is stored:
                document = copy.deepcopy(stored)
            if not _drop(document, [error["loc"] for error in exc.errors()]):
                return {}
        else:
            return document
    return {}


def _drop(document: dict[str, Any], locations: Iterable[Sequence[int | str]]) -> bool:
    """Removes the key each location ends in (a list as a whole; pydantic's `[key]` step names the key
    before it); whether anything was removed."""
    dropped = False
    for location in locations:
        path = []
        for step in location:
            if not isinstance(step, str) or step.startswith("["):
                break
            path.append(step)
        node: Any = document
        for step in path[:-1]:
            node = node.get(step) if isinstance(node, dict) else None
        if path and isinstance(node, dict) and path[-1] in node:
            del node[path[-1]]
            dropped = True
        elif path and path[0] in document:
            del document[path[0]]
            dropped = True
    return dropped


def effective_settings(stored: Any) -> OrganizationSettings:
    """Every setting with its value or its default, as the rules read them and the API shows them."""
    try:
        return OrganizationSettings.model_validate(stored if isinstance(stored, dict) else {})
    except ValidationError:
        return OrganizationSettings.model_validate(usable_settings(stored))


def patched_settings(stored: Any, patch: Mapping[str, Any]) -> dict[str, Any]:
    """The settings to store after a JSON Merge Patch (RFC 7396: the keys named change, a null returns
    a key to its default, the rest stay), or InvalidInput naming every field (`settings.<path>`) the
    result cannot use. Defaults are not written out, so a key never set follows a changed default."""
    merged: dict[str, Any] = merge_patch(usable_settings(stored), dict(patch))
    try:
        OrganizationSettings.model_validate(merged)
    except ValidationError as exc:
        raise InvalidInput(
            "The settings are not valid.",
            code="organization.settings_invalid",
            errors=validation_field_errors(exc.errors(), {"settings": merged}, prefix=("settings",)),
        ) from None
    return merged
