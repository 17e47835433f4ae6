"""What every KPI query shares: who may see which figures, the filters, the grouping columns
(dimension id and name), local days/weeks/months, and percentiles on both databases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, Select, and_, case, cast, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import Campaign, Customer, Lead, Pipeline, PipelineStage, Team, TeamMember, User
from app.domain.platform.errors import FieldError, PermissionDenied
from app.domain.reports.kpis import Dimension, KpiFilters, KpiQuery
from app.services.platform.local_clock import local_time
from app.services.platform.visibility import visible_to


@dataclass(frozen=True)
class Listing:
    """A KPI answering a page of records (stale) rather than grouped figures: the page, and the
    envelope's extra members (totals, next_cursor)."""

    rows: list[dict[str, Any]]
    extras: dict[str, Any] = field(default_factory=dict)


async def check_filters(session: AsyncSession, actor: Principal, filters: KpiFilters) -> None:
    """A filter naming a team or person outside what the caller sees is refused (403), rather
    than answered with figures that silently leave those records out."""
    if actor.sees_whole_organization:
        return
    assert actor.user_id is not None
    errors: list[FieldError] = []
    if actor.role is Role.supervisor:
        supervised = set(
            await session.scalars(
                select(Team.id).where(
                    Team.organization_id == actor.organization_id, Team.supervisor_id == actor.user_id
                )
            )
        )
        members = set(
            await session.scalars(
                select(TeamMember.user_id).where(
                    TeamMember.organization_id == actor.organization_id, TeamMember.team_id.in_(supervised)
                )
            )
        ) | {actor.user_id}
    else:
        supervised, members = set(), {actor.user_id}
    errors += [
        FieldError("team_id", "kpi.not_visible", f"team {team_id} is not one you supervise")
        for team_id in filters.team_ids
        if team_id not in supervised
    ]
    errors += [
        FieldError("user_id", "kpi.not_visible", f"user {user_id} is not you or a member of your teams")
        for user_id in filters.user_ids
        if user_id not in members
    ]
    if errors:
        raise PermissionDenied(
            "A filter asks for figures outside what you may see.", code="kpi.not_visible", errors=errors
        )


@dataclass(frozen=True)
class Facts:
    """How one kind of record (an opportunity, a lead) answers to the dimensions and filters.

    `region`, `industry` and `source` are columns of the record itself or of a joined table
    (`joins`, added only when a dimension needs it); filters use IN sub-queries instead, so they
    never multiply rows."""

    organization_id: Any
    owner_id: Any
    region: Any
    industry: Any
    source: Any
    pipeline_id: Any = None
    stage_id: Any = None
    product_lines: Any = None  # a JSON list of names
    campaign_id: Any = None
    joins: dict[Dimension, tuple[Any, Any]] = field(default_factory=dict)
    region_filter: Any = None  # f(regions) -> condition; default: region IN regions
    industry_filter: Any = None
    source_filter: Any = None
    # A condition every fact meets to count at all (activities: not entered late).
    counts: Any = None


def scoped(actor: Principal, facts: Facts, query: KpiQuery) -> list[ColumnElement[bool]]:
    """The organization, the caller's visibility and the filters, as WHERE conditions."""
    f = query.filters
    conditions: list[ColumnElement[bool]] = [
        facts.organization_id == actor.organization_id,
        visible_to(actor, facts.owner_id),
    ]
    if facts.counts is not None:
        conditions.append(facts.counts)
    if f.user_ids:
        conditions.append(facts.owner_id.in_(f.user_ids))
    if f.team_ids:
        conditions.append(
            facts.owner_id.in_(
                select(TeamMember.user_id).where(
                    TeamMember.organization_id == actor.organization_id, TeamMember.team_id.in_(f.team_ids)
                )
            )
        )
    for values, column, custom in (
        (f.regions, facts.region, facts.region_filter),
        (f.industries, facts.industry, facts.industry_filter),
        (f.sources, facts.source, facts.source_filter),
    ):
        if values:
            conditions.append(custom(values) if custom is not None else column.in_(values))
    if f.pipeline_ids:
        conditions.append(facts.pipeline_id.in_(f.pipeline_ids))
    return conditions


def customer_attribute(customer_id: Any, column: Any) -> Any:
    """A filter on a customer column for records that point at their customer."""
    return lambda values: customer_id.in_(select(Customer.id).where(column.in_(values)))


def lead_source(lead_id: Any) -> Any:
    return lambda values: lead_id.in_(select(Lead.id).where(Lead.source.in_(values)))


@dataclass(frozen=True)
class Grouping:
    """The grouping columns a KPI statement selects: per dimension `<dim>_id` and `<dim>_name`."""

    dimensions: tuple[Dimension, ...]
    columns: list[Any]
    keys: list[Any]

    def labels(self) -> list[str]:
        return [name for d in self.dimensions for name in (f"{d}_id", f"{d}_name")]


def group_columns(
    statement: Select[Any], facts: Facts, query: KpiQuery, timestamp: Any, dialect: str
) -> tuple[Select[Any], Grouping]:
    """Adds the joins the requested dimensions need; the columns to select and the keys to group
    by. Rows are grouped by the dimensions' ids alone: a name follows from its id (a primary key,
    or a look-up correlated on the grouped id), so it is looked up once per group, not per row."""
    columns: list[Any] = []
    keys: list[Any] = []
    joined: list[Any] = []
    for dimension in query.group_by:
        if dimension is Dimension.product:
            product, statement = _product_lines(statement, facts, dialect)
            columns += [product.label("product_id"), product.label("product_name")]
            keys.append(product)
            continue
        if dimension in facts.joins:
            target, onclause = facts.joins[dimension]
            if target not in joined:  # region and industry both read the customer: join it once
                statement = statement.outerjoin(target, onclause)
                joined.append(target)
        identifier, name = _dimension(dimension, facts, query, timestamp, dialect)
        columns += [identifier.label(f"{dimension}_id"), name.label(f"{dimension}_name")]
        keys.append(identifier)
    return statement, Grouping(query.group_by, columns, keys)


def _product_lines(statement: Select[Any], facts: Facts, dialect: str) -> tuple[Any, Select[Any]]:
    """One row per product line of the record (a deal with two counts in both rows; none: a
    row with product null), joined laterally from its JSON list."""
    if dialect == "postgresql":
        lines = (
            func.jsonb_array_elements_text(facts.product_lines).table_valued("value").lateral("kpi_product")
        )
    else:
        lines = func.json_each(facts.product_lines).table_valued("value").alias("kpi_product")
    return lines.c.value, statement.outerjoin(lines, true())


_TEAM = Team.__table__.alias("kpi_team")
_CAMPAIGN = Campaign.__table__.alias("kpi_campaign")
_MEMBER = TeamMember.__table__.alias("kpi_member")


def _name_of(entity: Any, name: Any, key: Any) -> Any:
    """The name of the record `key` points at, looked up per group row."""
    return select(name).where(entity.id == key).correlate_except(entity).scalar_subquery()


def _dimension(
    dimension: Dimension, facts: Facts, query: KpiQuery, timestamp: Any, dialect: str
) -> tuple[Any, Any]:
    if dimension is Dimension.user:
        return facts.owner_id, _name_of(User, User.display_name, facts.owner_id)
    if dimension is Dimension.team:
        return _TEAM.c.id, _TEAM.c.name
    if dimension is Dimension.pipeline:
        return facts.pipeline_id, _name_of(Pipeline, Pipeline.name, facts.pipeline_id)
    if dimension is Dimension.stage:
        return facts.stage_id, _name_of(PipelineStage, PipelineStage.name, facts.stage_id)
    if dimension is Dimension.campaign:
        return facts.campaign_id, _name_of(Campaign, Campaign.name, facts.campaign_id)
    if dimension is Dimension.channel:
        return _CAMPAIGN.c.channel, _CAMPAIGN.c.channel
    if dimension.is_period:
        bucket = local_period(timestamp, dimension, query, dialect)
        return bucket, bucket
    column = {
        Dimension.region: facts.region,
        Dimension.industry: facts.industry,
        Dimension.source: facts.source,
    }[dimension]
    return column, column


def team_join(owner_id: Any) -> tuple[Any, Any]:
    """A person's teams: a record of someone in two teams counts in both teams' rows."""
    return (
        _MEMBER.outerjoin(_TEAM, _TEAM.c.id == _MEMBER.c.team_id),
        _MEMBER.c.user_id == owner_id,
    )


def campaign_join(campaign_id: Any) -> tuple[Any, Any]:
    """A record's campaign, for its channel."""
    return _CAMPAIGN, _CAMPAIGN.c.id == campaign_id


def local_period(timestamp: Any, dimension: Dimension, query: KpiQuery, dialect: str) -> Any:
    """The first day of the local day, ISO week (Monday) or month the instant falls in, as
    'YYYY-MM-DD' text, in the query's time zone."""
    local = local_time(timestamp, query, dialect)
    if dialect == "postgresql":
        return func.to_char(func.date_trunc(dimension.value, local), "YYYY-MM-DD")
    if dimension is Dimension.day:
        return func.date(local)
    if dimension is Dimension.week:
        return func.date(local, "weekday 0", "-6 days")
    return func.strftime("%Y-%m-01", local)


def period_name(dimension: Dimension, first_day: str) -> str:
    """How a period reads: 2026-11-23, 2026-W48, 2026-11."""
    day = date.fromisoformat(first_day)
    if dimension is Dimension.week:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if dimension is Dimension.month:
        return first_day[:7]
    return first_day


def dimension_values(row: Any, grouping: Grouping) -> dict[str, dict[str, str] | None]:
    """Each grouped dimension as {id, name}; None for records without one (no team, no region)."""
    values: dict[str, dict[str, str] | None] = {}
    for dimension in grouping.dimensions:
        identifier = getattr(row, f"{dimension}_id")
        name = getattr(row, f"{dimension}_name")
        if identifier is None:
            values[dimension.value] = None
        elif dimension.is_period:
            values[dimension.value] = {"id": str(identifier), "name": period_name(dimension, str(identifier))}
        else:
            values[dimension.value] = {
                "id": str(identifier),
                "name": str(name if name is not None else identifier),
            }
    return values


def in_period(timestamp: Any, query: KpiQuery) -> ColumnElement[bool]:
    return and_(timestamp >= query.start, timestamp < query.end)


def median_and_p90(value: Any) -> list[Any]:
    """PostgreSQL only: the continuous median and 90th percentile of `value` (NULLs left out) as
    aggregate columns, `median` and `p90`."""
    return [
        func.percentile_cont(0.5).within_group(value).label("median"),
        func.percentile_cont(0.9).within_group(value).label("p90"),
    ]


def spread_columns(values: Any, dialect: str) -> Select[Any]:
    """count, mean, median and 90th percentile of `values.c.value` per group of the other columns
    of `values` (continuous percentiles: interpolated between the two nearest values, as
    PostgreSQL's percentile_cont). SQLite has no percentile aggregate: ranks in a window pick the
    two neighbours."""
    keys = [c for c in values.c if c.name != "value"]
    if dialect == "postgresql":
        value = values.c.value
        return select(
            *keys,
            func.count(value).label("n"),
            func.avg(value).label("mean"),
            *median_and_p90(value),
        ).group_by(*keys)
    ranked = select(
        *keys,
        values.c.value,
        (func.row_number().over(partition_by=keys, order_by=values.c.value) - 1).label("rank"),
        func.count().over(partition_by=keys).label("n"),
    ).subquery("ranked")
    ranked_keys = [ranked.c[k.name] for k in keys]
    return select(
        *ranked_keys,
        func.max(ranked.c.n).label("n"),
        func.avg(ranked.c.value).label("mean"),
        _interpolated(ranked, 0.5).label("median"),
        _interpolated(ranked, 0.9).label("p90"),
    ).group_by(*ranked_keys)


def _interpolated(ranked: Any, fraction: float) -> Any:
    position = (ranked.c.n - 1) * literal(fraction, Float)
    below = cast(position, Integer)  # positions are >= 0: CAST truncates to the floor
    above = below + case((position > below, 1), else_=0)
    low = func.max(case((ranked.c.rank == below, ranked.c.value)))
    high = func.max(case((ranked.c.rank == above, ranked.c.value)))
    return low + (high - low) * func.max(position - below)
