"""Plan regression on PostgreSQL: every list, search and timeline query, as the app issues it, reads the
big tables through an index, under the generic plan a prepared statement switches to after five runs.

A mid-size tenant (bench/scale_data.py, preset ci: 50,000 leads, 150,000 activities) is seeded in
set-based SQL and analysed; each service call's statements are captured with their parameters and
explained as `EXPLAIN EXECUTE` of a prepared statement with `plan_cache_mode = force_generic_plan`
(the search statements set force_custom_plan themselves, as they do in production). A sequential
scan of a big table fails the test: a later change cannot silently lose an index.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.db import create_sessionmaker
from app.domain.activities.activities import ActivityType
from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadStatus
from app.domain.sla.sla import RagStatus
from app.services.activities import activities, tasks
from app.services.customers import contacts, customers, timeline
from app.services.leads import leads
from app.services.organizations import create_organization
from app.services.pipelines import opportunities
from app.services.platform.list_filters import Period
from app.services.platform.pagination import SortOrder, encode_cursor
from app.services.quotes import quotes
from app.services.reports import status_board
from app.services.search import search
from bench.scale_data import PRESETS, seed

BIG_TABLES = {
    "lead",
    "customer",
    "contact",
    "activity",
    "opportunity",
    "task",
    "sla_timer",
    "stage_stay",
    "audit_event",
}
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
SCANS_ALLOWED = {
    # A director's summary counts every open record of the organization, here the table's only
    # tenant: one pass over the table is the cheaper plan (a rep's counts come by the owner's plan
    # index). Overdue tasks are counted over the tasks the caller sees (services/activities/tasks.py).
    "status board summary": {"lead", "opportunity", "task"},
    "status board summary, rep": {"task"},
    # health_score is not indexed (an indexed score would make each night's changed scores write
    # into every index of the customer, its trigram ones included): the sort reads the visible
    # customers, for a director the whole organization's.
    "customers by health": {"customer"},
    "customers by health, rep": {"customer"},
    # The same for the sorts that put the records without a value last (MissingLast): the sort key is
    # an expression no index holds, so the visible records are read and sorted.
    "leads by last follow-up": {"lead"},
    "opportunities by amount": {"opportunity"},
}

Call = Callable[[AsyncSession, Principal], Awaitable[Any]]


@pytest.fixture
async def seeded(engine: AsyncEngine) -> dict[str, Any]:
    if engine.dialect.name != "postgresql":
        pytest.skip("query plans are PostgreSQL's")
    async with create_sessionmaker(engine)() as session:
        created = await create_organization(
            session,
            name="Plans",
            admin_username="plans.admin",
            admin_password="x" * 12,
            timezone="Asia/Shanghai",
        )
        organization_id = created.organization.id
        await session.commit()
    async with engine.begin() as connection:
        await seed(
            connection, organization_id=organization_id, sizes=PRESETS["ci"], now=NOW, password_hash="-"
        )
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        # As autovacuum would have: statistics, and the GIN pending lists merged (which the planner
        # otherwise prices as a scan of their own).
        await connection.exec_driver_sql("VACUUM ANALYZE")
        found = (
            await connection.execute(
                text(
                    """SELECT (SELECT id FROM "user" WHERE username = 'scale.director') AS director,
                              (SELECT id FROM "user" WHERE username = 'scale.rep1') AS rep,
                              (SELECT id FROM "user" WHERE username = 'scale.marketing') AS marketing,
                              (SELECT customer_id FROM activity WHERE customer_id IS NOT NULL
                               GROUP BY 1 ORDER BY count(*) DESC LIMIT 1) AS big_customer,
                              (SELECT id FROM team ORDER BY name LIMIT 1) AS team"""
                )
            )
        ).one()
    return {
        "director": Principal.for_user(organization_id, found.director, Role.director),
        "rep": Principal.for_user(organization_id, found.rep, Role.rep),
        "marketing": Principal.for_user(organization_id, found.marketing, Role.marketing),
        "big_customer": found.big_customer,
        "team": found.team,
        "deep_lead_cursor": await _deep_lead_cursor(engine),
    }


async def _deep_lead_cursor(engine: AsyncEngine) -> str:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT created_at, id FROM lead ORDER BY created_at DESC, id DESC OFFSET 5000 LIMIT 1")
            )
        ).one()
    return encode_cursor(SortOrder("created_at", descending=True), row.created_at, row.id)


def _calls(seeded: dict[str, Any]) -> dict[str, tuple[str, Call]]:
    """(who, call) per case: each as the API's route would make it."""
    page = {"limit": 50, "cursor": None}
    board = {"filters": status_board.BoardFilters(), "limit": 50, "cursor": None}
    green = {**board, "filters": status_board.BoardFilters(rags=frozenset({RagStatus.green}))}
    deeper = {
        **board,
        "cursor": encode_cursor(SortOrder("plan_due_at", descending=False), NOW, uuid.UUID(int=0)),
    }
    return {
        "leads": ("director", lambda s, a: leads.list_leads(s, actor=a, **page)),
        "leads, rep": ("rep", lambda s, a: leads.list_leads(s, actor=a, **page)),
        "leads by status": (
            "rep",
            lambda s, a: leads.list_leads(s, actor=a, **page, filters={"status": [LeadStatus.contacted]}),
        ),
        "leads, deep page": (
            "director",
            lambda s, a: leads.list_leads(s, actor=a, limit=50, cursor=seeded["deep_lead_cursor"]),
        ),
        "leads by score": ("director", lambda s, a: leads.list_leads(s, actor=a, **page, sort="-score")),
        "leads by score, rep": ("rep", lambda s, a: leads.list_leads(s, actor=a, **page, sort="-score")),
        "lead search": ("director", lambda s, a: leads.list_leads(s, actor=a, **page, q="3000123")),
        "lead search, rep": ("rep", lambda s, a: leads.list_leads(s, actor=a, **page, q="建材公司12")),
        # Marketing reads the leads it entered besides the pool, and its search skips pooled phones.
        "leads, marketing": ("marketing", lambda s, a: leads.list_leads(s, actor=a, **page)),
        "leads by status, marketing": (
            "marketing",
            lambda s, a: leads.list_leads(s, actor=a, **page, filters={"status": [LeadStatus.converted]}),
        ),
        "lead search, marketing": (
            "marketing",
            lambda s, a: leads.list_leads(s, actor=a, **page, q="3000123"),
        ),
        "customers": ("director", lambda s, a: customers.list_customers(s, actor=a, **page)),
        "customers, rep": ("rep", lambda s, a: customers.list_customers(s, actor=a, **page)),
        "customers by health": (
            "director",
            lambda s, a: customers.list_customers(s, actor=a, **page, sort="health_score"),
        ),
        "customers by health, rep": (
            "rep",
            lambda s, a: customers.list_customers(s, actor=a, **page, sort="-health_score"),
        ),
        "customer search": (
            "director",
            lambda s, a: customers.list_customers(s, actor=a, **page, q="建材1234"),
        ),
        "leads by team": (
            "director",
            lambda s, a: leads.list_leads(s, actor=a, **page, team_id=[seeded["team"]]),
        ),
        "leads by team, rep": (
            "rep",
            lambda s, a: leads.list_leads(s, actor=a, **page, team_id=[seeded["team"]]),
        ),
        "leads by tag": ("director", lambda s, a: leads.list_leads(s, actor=a, **page, tags=["展会"])),
        "leads by name": ("director", lambda s, a: leads.list_leads(s, actor=a, **page, sort="name")),
        "leads by last follow-up": (
            "director",
            lambda s, a: leads.list_leads(s, actor=a, **page, sort="last_follow_up_at"),
        ),
        "leads by phone typed with spaces": (
            "director",
            lambda s, a: leads.list_leads(s, actor=a, **page, q="130 0012 345"),
        ),
        "customers by team": (
            "director",
            lambda s, a: customers.list_customers(s, actor=a, **page, team_id=[seeded["team"]]),
        ),
        "customers by tag": (
            "director",
            lambda s, a: customers.list_customers(s, actor=a, **page, tags=["VIP"]),
        ),
        "customers by name": (
            "director",
            lambda s, a: customers.list_customers(s, actor=a, **page, sort="name"),
        ),
        "contacts": ("director", lambda s, a: contacts.list_contacts(s, actor=a, **page)),
        "contacts, rep": ("rep", lambda s, a: contacts.list_contacts(s, actor=a, **page)),
        "contact search by phone": (
            "director",
            lambda s, a: contacts.list_contacts(s, actor=a, **page, q="139 0000 1234"),
        ),
        "global search": ("director", lambda s, a: search.search_records(s, actor=a, text="建材1234")),
        "global search, rep": ("rep", lambda s, a: search.search_records(s, actor=a, text="建材12")),
        "global search by phone, rep": (
            "rep",
            lambda s, a: search.search_records(s, actor=a, text="300012"),
        ),
        "global search by phone": (
            "director",
            lambda s, a: search.search_records(s, actor=a, text="139-0000-1234"),
        ),
        "opportunities": ("director", lambda s, a: opportunities.list_opportunities(s, actor=a, **page)),
        "opportunities, rep": ("rep", lambda s, a: opportunities.list_opportunities(s, actor=a, **page)),
        "opportunities by win probability": (
            "director",
            lambda s, a: opportunities.list_opportunities(s, actor=a, **page, sort="-win_probability"),
        ),
        "opportunities by win probability, rep": (
            "rep",
            lambda s, a: opportunities.list_opportunities(s, actor=a, **page, sort="-win_probability"),
        ),
        "opportunities by team": (
            "director",
            lambda s, a: opportunities.list_opportunities(s, actor=a, **page, team_id=[seeded["team"]]),
        ),
        "opportunity search": (
            "director",
            lambda s, a: opportunities.list_opportunities(s, actor=a, **page, q="建材12"),
        ),
        "opportunities by name": (
            "director",
            lambda s, a: opportunities.list_opportunities(s, actor=a, **page, sort="name"),
        ),
        "opportunities by amount": (
            "director",
            lambda s, a: opportunities.list_opportunities(s, actor=a, **page, sort="-amount"),
        ),
        "activities by team": (
            "director",
            lambda s, a: activities.list_activities(s, actor=a, **page, team_id=[seeded["team"]]),
        ),
        "activities": ("director", lambda s, a: activities.list_activities(s, actor=a, **page)),
        "activities, rep": ("rep", lambda s, a: activities.list_activities(s, actor=a, **page)),
        "activities by type": (
            "director",
            lambda s, a: activities.list_activities(s, actor=a, **page, filters={"type": ActivityType.visit}),
        ),
        "activity search": (
            "director",
            lambda s, a: activities.list_activities(s, actor=a, **page, q="样板交付"),
        ),
        "activity search, rep": (
            "rep",
            lambda s, a: activities.list_activities(s, actor=a, **page, q="样板交付"),
        ),
        "tasks": ("director", lambda s, a: tasks.list_tasks(s, actor=a, now=NOW, **page)),
        "task search": (
            "director",
            lambda s, a: tasks.list_tasks(
                s, actor=a, now=NOW, **page, filters=tasks.TaskFilters(q="样板交付")
            ),
        ),
        "tasks closed in a week": (
            "director",
            lambda s, a: tasks.list_tasks(
                s,
                actor=a,
                now=NOW,
                **page,
                filters=tasks.TaskFilters(closed=Period(NOW - timedelta(days=7), NOW)),
            ),
        ),
        "quote search": ("director", lambda s, a: quotes.list_quotes(s, actor=a, **page, q="建材1234")),
        "tasks, rep": ("rep", lambda s, a: tasks.list_tasks(s, actor=a, now=NOW, **page)),
        "timeline": (
            "director",
            lambda s, a: timeline.customer_timeline(s, actor=a, customer_id=seeded["big_customer"], **page),
        ),
        "status board": ("director", lambda s, a: status_board.list_board(s, actor=a, now=NOW, **board)),
        "status board, rep": ("rep", lambda s, a: status_board.list_board(s, actor=a, now=NOW, **board)),
        "status board, green": (
            "director",
            lambda s, a: status_board.list_board(s, actor=a, now=NOW, **green),
        ),
        "status board, after a cursor": (
            "director",
            lambda s, a: status_board.list_board(s, actor=a, now=NOW, **deeper),
        ),
        "status board summary": (
            "director",
            lambda s, a: status_board.summarize_board(s, actor=a, now=NOW, filters=board["filters"]),
        ),
        "status board summary, rep": (
            "rep",
            lambda s, a: status_board.summarize_board(s, actor=a, now=NOW, filters=board["filters"]),
        ),
    }


def _seq_scans(plan: dict[str, Any]) -> set[str]:
    found = {plan["Relation Name"]} if plan.get("Node Type") == "Seq Scan" else set()
    for child in plan.get("Plans", []):
        found |= _seq_scans(child)
    return found & BIG_TABLES


async def _generic_plan(connection: AsyncConnection, statement: str, parameters: Any) -> dict[str, Any]:
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    values = list(parameters or ())
    await raw.execute(f"PREPARE plan_probe AS {statement}")
    try:
        # EXECUTE takes its arguments as SQL text, which the prepared statement's types then parse.
        arguments = [
            await raw.fetchval("SELECT quote_nullable($1::text)", None if v is None else str(v))
            for v in values
        ]
        call = f"EXECUTE plan_probe({', '.join(arguments)})" if values else "EXECUTE plan_probe"
        explained = await raw.fetchval(f"EXPLAIN (FORMAT JSON) {call}")
    finally:
        await raw.execute("DEALLOCATE plan_probe")
    # SQLAlchemy's asyncpg connection decodes json results already.
    plan: dict[str, Any] = explained[0]["Plan"]
    return plan


async def test_lists_searches_and_timeline_read_big_tables_through_indexes(
    engine: AsyncEngine, seeded: dict[str, Any]
) -> None:
    failures = {}
    for case, (who, call) in _calls(seeded).items():
        captured: list[tuple[str, Any]] = []

        def capture(
            _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
        ) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                captured.append((statement, parameters))  # noqa: B023 (read in this iteration only)

        async with create_sessionmaker(engine)() as session:
            connection = await session.connection()
            # What a prepared statement runs after its fifth execution, at worst.
            await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
            event.listen(engine.sync_engine, "before_cursor_execute", capture)
            try:
                await call(session, seeded[who])
            finally:
                event.remove(engine.sync_engine, "before_cursor_execute", capture)
            assert captured, case
            for statement, parameters in captured:
                plan = await _generic_plan(connection, statement, parameters)
                scanned = _seq_scans(plan) - SCANS_ALLOWED.get(case, set())
                if scanned:
                    failures[f"{case}: {statement[:120]}"] = sorted(scanned)
            await session.rollback()
    assert failures == {}
