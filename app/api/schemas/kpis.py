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
