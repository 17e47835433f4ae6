"""KPI answers: one envelope, and one row shape per KPI so a generated client gets typed rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Row = TypeVar("Row", bound="KpiRow")

_TEAM: dict[str, Any] = {"id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "name": "华东一组"}
_USER: dict[str, Any] = {"id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "name": "王芳"}
_PARAMS: dict[str, Any] = {
    "from": "2026-10-01T00:00:00+08:00",
    "to": "2026-11-01T00:00:00+08:00",
    "tz": "Asia/Shanghai",
    "group_by": ["team"],
    "team_id": [],
    "user_id": [],
    "region": [],
    "industry": [],
    "source": [],
    "pipeline_id": [],
}


class DimensionValue(BaseModel):
    """A group's value: a team's or person's id and name; for a region, industry or source the
    text itself twice; for a day, week or month its first day and its label (2026-W48)."""

    id: str
    name: str


class KpiRow(BaseModel):
    """Each dimension of group_by appears with its value (null: records without one, e.g. a
    person in no team); dimensions not grouped by are absent."""

    model_config = ConfigDict(extra="forbid")

    user: DimensionValue | None = None
    team: DimensionValue | None = None
    region: DimensionValue | None = None
    industry: DimensionValue | None = None
    source: DimensionValue | None = None
    pipeline: DimensionValue | None = None
    product: DimensionValue | None = None
    campaign: DimensionValue | None = None
    channel: DimensionValue | None = None
    day: DimensionValue | None = None
    week: DimensionValue | None = None
    month: DimensionValue | None = None


class KpiParams(BaseModel):
    """The request as understood: the period as instants, the zone that decides local days."""

    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    tz: str
    group_by: list[str]
    team_id: list[str]
    user_id: list[str]
    region: list[str]
    industry: list[str]
    source: list[str]
    pipeline_id: list[str]


class KpiReport(BaseModel, Generic[Row]):
    kpi: str
    params: KpiParams
    generated_at: datetime
    definition_url: str = Field(description="Where docs/kpis.md defines this KPI.")
    rows: list[Row]


class RepPerformanceRow(KpiRow):
    won_count: int = Field(description="Deals won, closed in the period.")
    lost_count: int = Field(description="Deals lost, closed in the period.")
    closed_count: int = Field(description="won_count + lost_count: the win rate's denominator.")
    win_rate: float | None = Field(description="won_count / closed_count; null when nothing closed.")
    won_amount: str = Field(description="Sum of the won deals' amounts (decimal string).")
    active_reps: int = Field(description="People owning at least one deal closed in the row.")
    output_per_rep: str | None = Field(description="won_amount / active_reps (decimal string).")


class RepPerformanceReport(KpiReport[RepPerformanceRow]):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kpi": "rep-performance",
                    "params": _PARAMS,
                    "generated_at": "2026-11-23T00:00:00Z",
                    "definition_url": "https://docs.salescrm.dev/kpis#rep-performance",
                    "rows": [
                        {
                            "team": _TEAM,
                            "won_count": 12,
                            "lost_count": 8,
                            "closed_count": 20,
                            "win_rate": 0.6,
                            "won_amount": "1860000.00",
                            "active_reps": 5,
                            "output_per_rep": "372000.00",
                        }
                    ],
                }
            ]
        }
    )


class SalesCycleRow(KpiRow):
    won_count: int = Field(description="Deals won, closed in the period: the sample measured.")
    avg_days: float | None = Field(description="Mean days from first stage entry to close.")
    median_days: float | None
    p90_days: float | None


class SalesCycleReport(KpiReport[SalesCycleRow]):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kpi": "sales-cycle",
                    "params": {**_PARAMS, "group_by": ["user"]},
                    "generated_at": "2026-11-23T00:00:00Z",
                    "definition_url": "https://docs.salescrm.dev/kpis#sales-cycle",
                    "rows": [
                        {
                            "user": _USER,
                            "won_count": 7,
                            "avg_days": 53.4,
                            "median_days": 49.0,
                            "p90_days": 88.6,
                        }
                    ],
                }
            ]
        }
    )


class FunnelRow(KpiRow):
    stage: DimensionValue
    position: int = Field(description="The stage's place in its pipeline, for ordering.")
    entered: int = Field(description="Opportunities that entered the stage in the period.")
    converted_to_next: int = Field(description="Of those, the ones that later entered a further stage.")
    conversion_rate: float | None = Field(description="converted_to_next / entered.")


class FunnelReport(KpiReport[FunnelRow]):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kpi": "funnel",
                    "params": {**_PARAMS, "group_by": []},
                    "generated_at": "2026-11-23T00:00:00Z",
                    "definition_url": "https://docs.salescrm.dev/kpis#funnel",
                    "rows": [
                        {
                            "stage": {"id": "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a", "name": "需求确认"},
                            "position": 2,
                            "entered": 40,
                            "converted_to_next": 26,
                            "conversion_rate": 0.65,
                        }
                    ],
                }
            ]
        }
    )


def _report_example(kpi: str, row: dict[str, Any], **extras: Any) -> dict[str, Any]:
    return {
        "examples": [
            {
                "kpi": kpi,
                "params": _PARAMS,
                "generated_at": "2026-11-23T00:00:00Z",
                "definition_url": f"https://docs.salescrm.dev/kpis#{kpi}",
                "rows": [row],
                **extras,
            }
        ]
    }


_STAGE = {"id": "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a", "name": "方案演示"}


class StageDwellRow(KpiRow):
    stage: DimensionValue
    position: int
    left_count: int = Field(description="Stays in the stage that ended in the period.")
    avg_hours: float | None = Field(description="Mean calendar hours those stays lasted.")
    median_hours: float | None
    p90_hours: float | None


class StageDwellReport(KpiReport[StageDwellRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "stage-dwell",
            {
                "team": _TEAM,
                "stage": _STAGE,
                "position": 2,
                "left_count": 31,
                "avg_hours": 96.5,
                "median_hours": 72.0,
                "p90_hours": 210.4,
            },
        )
    )


class PipelineRow(KpiRow):
    stage: DimensionValue
    position: int
    open_count: int = Field(description="Open opportunities now in the stage.")
    amount: str = Field(description="Their amounts summed (decimal string).")
    weighted_amount: str = Field(description="Each amount times the stage's probability, summed.")
    avg_age_days: float | None = Field(description="Mean days since engaged (first stage entry).")


class PipelineReport(KpiReport[PipelineRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "pipeline",
            {
                "stage": _STAGE,
                "position": 2,
                "open_count": 18,
                "amount": "5400000.00",
                "weighted_amount": "2160000.00",
                "avg_age_days": 23.4,
            },
        )
    )


class ForecastRow(KpiRow):
    close_month: DimensionValue = Field(description="The expected close month (first day, 2026-12).")
    open_count: int
    amount: str
    weighted_amount: str = Field(description="Each amount times its stage's probability, summed.")


class ForecastReport(KpiReport[ForecastRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "forecast",
            {
                "team": _TEAM,
                "close_month": {"id": "2026-12-01", "name": "2026-12"},
                "open_count": 9,
                "amount": "2700000.00",
                "weighted_amount": "1620000.00",
            },
        )
    )


class LeadResponseRow(KpiRow):
    received: int = Field(description="Leads created in the period.")
    responded: int = Field(description="Of those, with a first response.")
    median_minutes: float | None = Field(description="Median minutes from creation to first response.")
    p90_minutes: float | None
    reached_24h: int = Field(description="First response within 24 hours of creation.")
    reach_24h_rate: float | None = Field(description="reached_24h / received.")
    sla_met: int = Field(description="First-response SLA timers stopped by a response before due.")
    sla_decided: int = Field(description="Leads whose first-response timer was met or breached.")
    sla_met_rate: float | None = Field(description="sla_met / sla_decided.")


class LeadResponseReport(KpiReport[LeadResponseRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "lead-response",
            {
                "source": {"id": "web_form", "name": "web_form"},
                "received": 120,
                "responded": 112,
                "median_minutes": 37.0,
                "p90_minutes": 260.5,
                "reached_24h": 104,
                "reach_24h_rate": 0.8667,
                "sla_met": 95,
                "sla_decided": 110,
                "sla_met_rate": 0.8636,
            },
        )
    )


class LeadUtilizationRow(KpiRow):
    received: int = Field(description="Leads created in the period.")
    effective: int = Field(description="Of those, with at least one effective follow-up.")
    utilization_rate: float | None = Field(description="effective / received.")
    converted: int = Field(description="Of those, converted to a customer.")


class LeadUtilizationReport(KpiReport[LeadUtilizationRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "lead-utilization",
            {"user": _USER, "received": 40, "effective": 37, "utilization_rate": 0.925, "converted": 6},
        )
    )


class FollowUpRow(KpiRow):
    days: int = Field(description="The window: followed up within this many days before now.")
    leads_active: int
    leads_followed: int
    customers_active: int
    customers_followed: int
    active: int = Field(description="leads_active + customers_active.")
    followed: int = Field(description="leads_followed + customers_followed.")
    follow_up_rate: float | None = Field(description="followed / active.")


class FollowUpReport(KpiReport[FollowUpRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "follow-up",
            {
                "user": _USER,
                "days": 7,
                "leads_active": 30,
                "leads_followed": 21,
                "customers_active": 50,
                "customers_followed": 9,
                "active": 80,
                "followed": 30,
                "follow_up_rate": 0.375,
            },
        )
    )


class StaleRow(KpiRow):
    subject_type: str = Field(description="lead or customer.")
    subject_id: str
    name: str
    owner: DimensionValue
    last_follow_up_or_since: datetime = Field(
        description="The last follow-up; never followed: when it came to its owner."
    )
    days_since: int = Field(description="Whole days from then to now.")


class StaleReport(KpiReport[StaleRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "stale",
            {
                "subject_type": "customer",
                "subject_id": "6c7d8e9f-0a1b-4c2d-8e3f-4a5b6c7d8e9f",
                "name": "申华建设集团",
                "owner": _USER,
                "last_follow_up_or_since": "2026-11-02T03:00:00Z",
                "days_since": 20,
            },
            days=7,
            stale_leads=12,
            stale_customers=19,
            stale_total=31,
            next_cursor=None,
        )
    )

    days: int
    stale_leads: int = Field(description="All stale leads the filters keep, not only this page.")
    stale_customers: int
    stale_total: int
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last.")


class ContactHeatmapRow(KpiRow):
    weekday: int = Field(ge=1, le=7, description="ISO weekday in tz: 1 Monday .. 7 Sunday.")
    hour: int = Field(ge=0, le=23, description="Hour of the day in tz.")
    calls: int
    connected: int
    connect_rate: float | None = Field(description="connected / calls.")


class ContactHeatmapReport(KpiReport[ContactHeatmapRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "contact-heatmap",
            {"weekday": 2, "hour": 10, "calls": 84, "connected": 51, "connect_rate": 0.6071},
        )
    )


class TimeToFirstDealRow(KpiRow):
    user: DimensionValue
    started_at: datetime = Field(description="When the rep's account was created.")
    first_won_at: datetime | None = Field(description="Close of the rep's first deal that is won now.")
    days_to_first_deal: float | None


class TimeToFirstDealReport(KpiReport[TimeToFirstDealRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "time-to-first-deal",
            {
                "user": _USER,
                "started_at": "2026-08-03T01:00:00Z",
                "first_won_at": "2026-10-12T06:30:00Z",
                "days_to_first_deal": 70.23,
            },
        )
    )


class PeiAction(BaseModel):
    action: str = Field(description="An activity type (call, visit ...) or action_pack (stage tasks).")
    required: int
    done: int
    credited: int = Field(description="done, counted up to required.")


class PeiRow(KpiRow):
    user: DimensionValue
    week: DimensionValue
    required: int = Field(description="Required actions that week (the PEI's denominator).")
    done: int = Field(description="Credited actions (the numerator): each action up to its requirement.")
    pei: float | None = Field(description="done / required; null when nothing is required.")
    actions: list[PeiAction]


class PeiReport(KpiReport[PeiRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "pei",
            {
                "user": _USER,
                "week": {"id": "2026-11-16", "name": "2026-W47"},
                "required": 12,
                "done": 9,
                "pei": 0.75,
                "actions": [
                    {"action": "visit", "required": 3, "done": 2, "credited": 2},
                    {"action": "call", "required": 8, "done": 11, "credited": 8},
                    {"action": "action_pack", "required": 1, "done": 0, "credited": 0},
                ],
            },
        )
    )


class HandoverRow(KpiRow):
    received: int = Field(description="Leads created in the period (handed to sales).")
    responded: int = Field(description="Of those, followed up by sales.")
    effective: int = Field(description="Of those, with an effective follow-up.")
    reached_24h: int = Field(description="Followed up within 24 hours of creation.")
    handoff_sla_met: int = Field(description="Hand-off SLA timers met no later than due.")
    handoff_sla_decided: int = Field(description="Hand-off SLA timers met (in time or late) or breached.")
    median_hours_to_follow_up: float | None = Field(description="Median hours from creation to follow-up.")
    handoff_sla_met_rate: float | None = Field(description="handoff_sla_met / handoff_sla_decided.")
    effective_rate: float | None = Field(description="effective / received: effective-lead rate.")
    reach_24h_rate: float | None = Field(description="reached_24h / received.")
    collaboration_score: float | None = Field(
        description="100 x (0.4 handoff_sla_met_rate + 0.3 effective_rate + 0.3 reach_24h_rate)."
    )


class HandoverReport(KpiReport[HandoverRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "handover",
            {
                "source": {"id": "exhibition", "name": "exhibition"},
                "received": 60,
                "responded": 55,
                "effective": 33,
                "reached_24h": 48,
                "handoff_sla_met": 41,
                "handoff_sla_decided": 52,
                "median_hours_to_follow_up": 6.5,
                "handoff_sla_met_rate": 0.7885,
                "effective_rate": 0.55,
                "reach_24h_rate": 0.8,
                "collaboration_score": 72.0,
            },
        )
    )


class DrillDown(BaseModel):
    count: int
    drill_down: str = Field(description="The API call that lists or breaks down this figure.")


class ConversionWeek(BaseModel):
    week: DimensionValue
    leads_received: int
    leads_converted: int
    lead_conversion_rate: float | None = Field(description="leads_converted / leads_received.")
    deals_won: int
    deals_closed: int
    win_rate: float | None = Field(description="deals_won / deals_closed.")
    drill_down: str


class DailyBriefRow(KpiRow):
    """A rep with records not followed up for 7 days."""

    user: DimensionValue | None = Field(description="Null: records nobody owns.")
    stale_leads: int
    stale_customers: int
    drill_down: str


class DailyBriefReport(KpiReport[DailyBriefRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "daily-brief",
            {
                "user": _USER,
                "stale_leads": 3,
                "stale_customers": 5,
                "drill_down": "/api/v1/kpis/stale?user_id=...",
            },
            as_of="2026-11-23T00:00:00Z",
            new_leads_yesterday={"count": 14, "drill_down": "/api/v1/kpis/lead-response?from=2026-11-22"},
            sla_breaches_today={"count": 2, "drill_down": "/api/v1/sla-timers?state=breached"},
            red_items={"count": 5, "drill_down": "/api/v1/status-board?rag=red"},
            conversion_trend=[
                {
                    "week": {"id": "2026-11-16", "name": "2026-W47"},
                    "leads_received": 52,
                    "leads_converted": 7,
                    "lead_conversion_rate": 0.1346,
                    "deals_won": 4,
                    "deals_closed": 9,
                    "win_rate": 0.4444,
                    "drill_down": "/api/v1/kpis/funnel?from=2026-11-16&to=2026-11-22",
                }
            ],
        )
    )

    as_of: datetime
    new_leads_yesterday: DrillDown
    sla_breaches_today: DrillDown = Field(description="Timers due today, up to now, not met in time.")
    red_items: DrillDown = Field(description="Records red on the status board.")
    conversion_trend: list[ConversionWeek] = Field(description="The last four whole weeks, oldest first.")


class StatusBoardRow(KpiRow):
    user: DimensionValue | None = Field(description="The owner; null for records waiting for one.")
    green: int
    yellow: int
    red: int
    total: int


class StatusBoardReport(KpiReport[StatusBoardRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "status-board", {"user": _USER, "green": 12, "yellow": 3, "red": 2, "total": 17}
        )
    )


_CAMPAIGN: dict[str, Any] = {"id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "name": "2026上海建材展"}
_EXHIBITION: dict[str, Any] = {"id": "exhibition", "name": "exhibition"}


class CampaignRoiRow(KpiRow):
    campaign: DimensionValue | None = Field(description="The campaign; null in a row per channel.")
    channel: DimensionValue
    leads: int = Field(description="The campaign's leads created in the period.")
    effective_leads: int = Field(description="Of those, qualified or with an effective follow-up.")
    effective_rate: float | None = Field(description="effective_leads / leads.")
    cost: str = Field(description="Cost entries incurred on the period's days (decimal string).")
    cost_per_lead: str | None = Field(description="cost / leads; null without leads.")
    cost_per_effective_lead: str | None = Field(description="cost / effective_leads; null without any.")
    opportunities: int = Field(description="The campaign's deals created in the period.")
    won_count: int = Field(description="The campaign's deals won, closed in the period.")
    won_amount: str = Field(description="Their amounts summed (decimal string).")
    net_return: str = Field(description="won_amount - cost: ROI's numerator (decimal string).")
    roi: float | None = Field(description="net_return / cost; null when nothing was spent.")


class CampaignRoiReport(KpiReport[CampaignRoiRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "campaign-roi",
            {
                "campaign": _CAMPAIGN,
                "channel": _EXHIBITION,
                "leads": 10,
                "effective_leads": 4,
                "effective_rate": 0.4,
                "cost": "1200.00",
                "cost_per_lead": "120.00",
                "cost_per_effective_lead": "300.00",
                "opportunities": 3,
                "won_count": 1,
                "won_amount": "5000.00",
                "net_return": "3800.00",
                "roi": 3.1667,
            },
        )
    )


class ReasonCount(BaseModel):
    reason: str
    count: int


class SourceQualityRow(KpiRow):
    source: DimensionValue
    campaign: DimensionValue | None = Field(description="The leads' campaign; null: leads without one.")
    leads: int = Field(description="Leads created in the period.")
    with_feedback: int = Field(description="Of those, rated by sales (PUT /leads/{id}/feedback).")
    feedback_rate: float | None = Field(description="with_feedback / leads.")
    feedback_quality_total: int = Field(description="The ratings summed: the average's numerator.")
    avg_feedback_quality: float | None = Field(
        description="feedback_quality_total / with_feedback, 1 (useless) to 5 (excellent)."
    )
    feedback_reasons: list[ReasonCount] = Field(description="Rated leads per reason code, most first.")
    disqualified: int = Field(description="Of the leads, disqualified now.")
    disqualified_rate: float | None = Field(description="disqualified / leads.")
    disqualification_reasons: list[ReasonCount] = Field(description="Disqualified leads per reason.")


class SourceQualityReport(KpiReport[SourceQualityRow]):
    model_config = ConfigDict(
        json_schema_extra=_report_example(
            "source-quality",
            {
                "source": _EXHIBITION,
                "campaign": _CAMPAIGN,
                "leads": 40,
                "with_feedback": 25,
                "feedback_rate": 0.625,
                "feedback_quality_total": 80,
                "avg_feedback_quality": 3.2,
                "feedback_reasons": [{"reason": "no_budget", "count": 9}, {"reason": "good_fit", "count": 7}],
                "disqualified": 6,
                "disqualified_rate": 0.15,
                "disqualification_reasons": [
                    {"reason": "无采购预算", "count": 4},
                    {"reason": "空号", "count": 2},
                ],
            },
        )
    )
