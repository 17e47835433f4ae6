"""/kpis/{name}: management figures as JSON or CSV, one route (and one row schema) per KPI."""

from __future__ import annotations

import gc
import hashlib
import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import WithJsonSchema

from app.api.deps import CurrentPrincipal, Cursor, Limit, NowDep, SessionDep, require
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.kpis import (
    CampaignRoiReport,
    ContactHeatmapReport,
    DailyBriefReport,
    DimensionValue,
    FollowUpReport,
    ForecastReport,
    FunnelReport,
    HandoverReport,
    KpiParams,
    KpiReport,
    KpiRow,
    LeadResponseReport,
    LeadUtilizationReport,
    PeiReport,
    PipelineReport,
    RepPerformanceReport,
    SalesCycleReport,
    SourceQualityReport,
    StageDwellReport,
    StaleReport,
    StatusBoardReport,
    TimeToFirstDealReport,
)
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadSource
from app.domain.platform.errors import FieldError, InvalidInput, PermissionDenied
from app.domain.reports.exports import CSV_MEDIA_TYPE, preferred_media_type
from app.domain.reports.kpis import DEFAULT_STALE_DAYS, Filter, KpiFilters, KpiName, group_by_pattern
from app.services.kpis.reports import CATALOG, KpiRequest, KpiResult, KpiSpec, compute_kpi, may_read
from app.services.platform.spreadsheets import write_csv

router = APIRouter(prefix=f"{API_V1}/kpis", tags=["kpis"])

CanRead = Annotated[Principal, Depends(require(Permission.kpi_read))]


def reader_of(name: KpiName) -> Callable[..., Awaitable[Principal]]:
    """The principal, if they may read this KPI (a marketing KPI also marketing users)."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not may_read(principal, name):
            raise PermissionDenied(
                f"Your role lacks the permission {Permission.kpi_read.value}.", code="permission.denied"
            )
        return principal

    return dependency


DEFINITIONS_URL = "https://docs.salescrm.dev/kpis#"
CACHE_CONTROL = "private, max-age=60"
_Text = Query(max_length=64)
_HEADERS = {
    "ETag": {"description": "A digest of the answer, for If-None-Match.", "schema": {"type": "string"}},
    "Cache-Control": {"description": "private, max-age=60", "schema": {"type": "string"}},
}


_FILTER_VALUES: dict[Filter, Any] = {
    Filter.team_id: uuid.UUID,
    Filter.user_id: uuid.UUID,
    Filter.region: Annotated[str, _Text],
    Filter.industry: Annotated[str, _Text],
    Filter.source: LeadSource,
    Filter.pipeline_id: uuid.UUID,
}


def _filter(name: Filter, max_values: int) -> Any:
    values: Any = list[_FILTER_VALUES[name]]  # type: ignore[valid-type]  # a type built at import
    repeat = "Repeat for several (OR)." if max_values > 1 else "At most once."
    return Annotated[values | None, Query(max_length=max_values, description=repeat)]


_TZ = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="IANA time zone; default the organization's.",
        examples=["Asia/Shanghai"],
    ),
]
# A bound is a date or an RFC 3339 date-time of the years 1900 to 2099 (the server also takes a
# date-time without an offset, read in tz).
_YEARS = "^(?:19|20)[0-9]{2}-"


def _bound(description: str, example: str, alias: str | None = None) -> Any:
    return Annotated[
        str | None,
        Query(max_length=40, alias=alias, description=description),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "format": "date", "pattern": _YEARS},
                    {"type": "string", "format": "date-time", "pattern": _YEARS, "maxLength": 40},
                ],
                "examples": [example],
            }
        ),
    ]


def _parameter(name: str, annotation: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)


def scope_of(spec: KpiSpec) -> Callable[..., Awaitable[KpiRequest]]:
    """A dependency taking what this KPI takes of the zone, the grouping and the filters, and
    nothing else: the contract lists exactly these, and any other is an unknown parameter."""

    async def scope(**given: Any) -> KpiRequest:
        return KpiRequest(
            start=given.get("from_"),
            end=given.get("to"),
            timezone=given["tz"],
            group_by=given.get("group_by"),
            filters=KpiFilters(
                team_ids=tuple(given.get("team_id") or ()),
                user_ids=tuple(given.get("user_id") or ()),
                regions=tuple(given.get("region") or ()),
                industries=tuple(given.get("industry") or ()),
                sources=tuple(s.value for s in given.get("source") or ()),
                pipeline_ids=tuple(given.get("pipeline_id") or ()),
            ),
        )

    parameters = [_parameter("tz", _TZ)]
    if not spec.snapshot:
        parameters += [
            _parameter(
                "from_",
                _bound(
                    "A date (that whole day in tz) or a date-time; default 30 days before to.",
                    "2026-10-01",
                    "from",
                ),
            ),
            _parameter(
                "to",
                _bound("A date (up to the end of that day in tz) or a date-time; default now.", "2026-10-31"),
            ),
        ]
    if spec.dimensions:
        dimensions = ", ".join(sorted(spec.dimensions))
        group_by = Annotated[
            str | None,
            Query(
                max_length=64,
                description=f"One or two of {dimensions}, comma-separated, at most one of day, week "
                "and month.",
            ),
            WithJsonSchema({"type": "string", "pattern": group_by_pattern(spec.dimensions)}),
        ]
        parameters.append(_parameter("group_by", group_by))
    parameters += [
        _parameter(f.value, _filter(f, spec.max_filter_values)) for f in Filter if f in spec.filters
    ]
    scope.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return scope


IfNoneMatch = Annotated[
    str | None, Header(max_length=512, description="An ETag of an earlier answer: 304 if unchanged.")
]


def _params(result: KpiResult) -> KpiParams:
    query, f = result.query, result.query.filters
    return KpiParams(
        from_=query.start,
        to=query.end,
        tz=query.timezone,
        group_by=[d.value for d in query.group_by],
        team_id=[str(v) for v in f.team_ids],
        user_id=[str(v) for v in f.user_ids],
        region=list(f.regions),
        industry=list(f.industries),
        source=list(f.sources),
        pipeline_id=[str(v) for v in f.pipeline_ids],
    )


def _csv(report: type[KpiReport[Any]], result: KpiResult, rows: list[dict[str, Any]]) -> bytes:
    """The rows flattened (a dimension as <name>_id and <name>_name)."""
    row_model: type[KpiRow] = report.model_fields["rows"].annotation.__args__[0]  # type: ignore[union-attr]
    grouped = [d.value for d in result.query.group_by]
    own = [
        name
        for name, info in row_model.model_fields.items()
        if name not in grouped and (name not in KpiRow.model_fields or info.is_required())
    ]
    fields = grouped + own
    dimensions = {
        name
        for name in fields
        if name in grouped
        or row_model.model_fields[name].annotation in (DimensionValue, DimensionValue | None)
    }
    header: list[str] = []
    for name in fields:
        header += [f"{name}_id", f"{name}_name"] if name in dimensions else [name]
    lines: list[list[Any]] = []
    for row in rows:
        cells: list[Any] = []
        for name in fields:
            value = row.get(name)
            if name in dimensions:
                cells += [value["id"], value["name"]] if value else ["", ""]
            else:
                cells.append(value)
        lines.append(cells)
    return write_csv(header, lines)


def _etag(as_csv: bool, figures: bytes) -> str:
    """A digest of the figures and the representation (CSV or JSON)."""
    digest = hashlib.sha256(b"csv:" if as_csv else b"json:")
    digest.update(figures)
    return '"' + digest.hexdigest()[:32] + '"'


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Building a large answer (6,000 PEI rows: ~40,000 models) allocates many objects, none in
    a reference cycle; the cyclic collector, run every 700 allocations, would scan the heap over
    and over meanwhile (on the bench, 6,500 rows validated in ~0.1 s paused, 0.5-1.5 s not). The
    block awaits nothing, so no other request runs while it is paused."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def _answer(
    report: type[KpiReport[Any]],
    name: KpiName,
    result: KpiResult,
    request: Request,
    now: Any,
    if_none_match: str | None,
) -> Response:
    as_csv = preferred_media_type(request.headers.get("accept", ""), (CSV_MEDIA_TYPE,)) is not None
    with _cyclic_gc_paused():
        body = report(
            kpi=name.value,
            params=_params(result),
            generated_at=now,
            definition_url=DEFINITIONS_URL + name.value,
            rows=result.rows,
            **result.extras,
        )
        # The digest leaves out generated_at: the same figures are the same answer.
        figures = body.model_dump_json(by_alias=True, exclude_unset=True, exclude={"generated_at"})
        etag = _etag(as_csv, figures.encode())
        headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept, Authorization"}
        if _matches(if_none_match, etag):
            return Response(status_code=304, headers=headers)
        if as_csv:
            rows = body.model_dump(mode="json", by_alias=True, exclude_unset=True, include={"rows"})["rows"]
            return Response(
                _csv(report, result, rows), media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8", headers=headers
            )
        return Response(
            body.model_dump_json(by_alias=True, exclude_unset=True),
            media_type="application/json",
            headers=headers,
        )


@dataclass(frozen=True)
class KpiOptions:
    stale_after_days: int = DEFAULT_STALE_DAYS
    limit: int = 50
    cursor: str | None = None


_Days = Annotated[
    int, Query(ge=1, le=365, description="Not followed up for this many days: stale.", examples=[7])
]


async def no_options() -> KpiOptions:
    return KpiOptions()


async def follow_up_options(days: _Days = DEFAULT_STALE_DAYS) -> KpiOptions:
    return KpiOptions(stale_after_days=days)


async def stale_options(
    days: _Days = DEFAULT_STALE_DAYS, limit: Limit = 50, cursor: Cursor = None
) -> KpiOptions:
    return KpiOptions(stale_after_days=days, limit=limit, cursor=cursor)


def _route(
    name: KpiName,
    report: type[KpiReport[Any]],
    summary: str,
    options: Callable[..., Awaitable[KpiOptions]] = no_options,
) -> None:
    spec = CATALOG[name]
    snapshot = " A snapshot of now: it takes no `from` or `to`." if spec.snapshot else ""

    async def endpoint(
        request: Request,
        session: SessionDep,
        actor: Principal,
        now: NowDep,
        params: KpiRequest,
        extra: KpiOptions,
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        kpi_request = replace(
            params, stale_after_days=extra.stale_after_days, limit=extra.limit, cursor=extra.cursor
        )
        result = await compute_kpi(session, actor=actor, name=name, request=kpi_request, now=now)
        return _answer(report, name, result, request, now, if_none_match)

    # Each KPI's own parameters (stale's days and paging) appear in its operation only.
    endpoint.__annotations__["actor"] = Annotated[Principal, Depends(reader_of(name))]
    endpoint.__annotations__["params"] = Annotated[KpiRequest, Depends(scope_of(spec))]
    endpoint.__annotations__["extra"] = Annotated[KpiOptions, Depends(options)]
    router.add_api_route(
        f"/{name.value}",
        endpoint,
        methods=["GET"],
        name="get_kpi_" + name.value.replace("-", "_"),
        summary=summary,
        description=f"Definition: docs/kpis.md#{name.value}. `Accept: text/csv`: the same rows as CSV."
        + snapshot,
        response_model=report,
        responses={
            200: {"headers": _HEADERS, "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}}},
            304: {"description": "Not Modified: If-None-Match names the current ETag."},
            **problem_responses(401, 403, 422),
        },
    )


_route(KpiName.rep_performance, RepPerformanceReport, "Won and lost deals, win rate and output per rep")
_route(KpiName.sales_cycle, SalesCycleReport, "Days from first stage entry to a won close")
_route(KpiName.funnel, FunnelReport, "Opportunities entering each stage and moving on")
_route(KpiName.stage_dwell, StageDwellReport, "Hours spent in each stage")
_route(KpiName.pipeline, PipelineReport, "Open opportunities per stage now, weighted by probability")
_route(KpiName.forecast, ForecastReport, "Open opportunities by expected close month")
_route(KpiName.lead_response, LeadResponseReport, "First-response time, 24-hour reach and SLA")
_route(KpiName.lead_utilization, LeadUtilizationReport, "Leads with an effective follow-up / leads received")
_route(KpiName.follow_up, FollowUpReport, "Leads and customers followed up within N days", follow_up_options)
_route(KpiName.stale, StaleReport, "Leads and customers not followed up for N days", stale_options)
_route(KpiName.contact_heatmap, ContactHeatmapReport, "Connect rate of calls by weekday and hour")
_route(KpiName.time_to_first_deal, TimeToFirstDealReport, "Days from a rep's start to the first won deal")
_route(KpiName.handover, HandoverReport, "Marketing to sales: hand-off SLA, follow-up, effective leads")
_route(KpiName.daily_brief, DailyBriefReport, "What a manager reads at 8 am, each figure with its drill-down")
_route(KpiName.status_board, StatusBoardReport, "Green, yellow and red records per owner, the most red first")
_route(KpiName.pei, PeiReport, "Process-execution index per rep and week, per required action")
_route(KpiName.campaign_roi, CampaignRoiReport, "Leads, cost, won deals and ROI per campaign or channel")
_route(
    KpiName.source_quality,
    SourceQualityReport,
    "Sales feedback and disqualification reasons per source and campaign",
)
assert set(CATALOG) == set(KpiName)


@router.get("/{name}", response_model=None, responses=problem_responses(401, 422), include_in_schema=False)
async def get_unknown_kpi(name: str, actor: CanRead) -> None:
    raise InvalidInput(
        f"There is no KPI {name!r}.",
        code="kpi.unknown",
        errors=[FieldError("name", "kpi.unknown", "one of " + ", ".join(KpiName))],
    )
