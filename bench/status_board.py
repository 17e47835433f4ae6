"""Status board read time for a 45-rep organization with ~20k open records (and closed history) on
PostgreSQL: the first page and the summary, as a director, a supervisor and a rep.

Run: .venv/bin/python -m bench.status_board [--open 20000] [--runs 30] [--explain]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text

from app.db import Base, create_engine, create_sessionmaker
from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadSource, LeadStatus
from app.domain.models import (
    Customer,
    Lead,
    Opportunity,
    OpportunityStatus,
    PipelineStage,
    SlaPolicy,
    SlaTimer,
    Task,
    TaskStatus,
    Team,
    TeamMember,
    User,
)
from app.domain.sla.sla import SlaKind, TimerState
from app.services.organizations import create_organization
from app.services.reports import status_board
from bench.common import recreate_database

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
REPS, TEAMS = 45, 5


def _around_now(rng: random.Random) -> datetime:
    """Plans from a week late to a week ahead, so every colour is well represented."""
    return NOW + timedelta(minutes=rng.randint(-7 * 24 * 60, 7 * 24 * 60))


async def _seed(url: str, open_records: int, *, analyze: bool) -> dict[str, Any]:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    sessionmaker = create_sessionmaker(engine)
    rng = random.Random(7)
    async with sessionmaker() as session:
        org = await create_organization(
            session,
            name="Bench Board",
            admin_username="admin",
            admin_password="x" * 12,
            timezone="Asia/Shanghai",
        )
        organization_id = org.organization.id
        stage = await session.scalar(
            select(PipelineStage).where(PipelineStage.organization_id == organization_id).limit(1)
        )
        assert stage is not None
        base = {"organization_id": organization_id}
        users = [
            {
                **base,
                "id": uuid.uuid4(),
                "username": f"u{i}",
                "display_name": f"销售{i}",
                "role": Role.rep,
                "password_hash": "-",
            }
            for i in range(REPS)
        ]
        supervisors = [
            {
                **base,
                "id": uuid.uuid4(),
                "username": f"s{i}",
                "display_name": f"主管{i}",
                "role": Role.supervisor,
                "password_hash": "-",
            }
            for i in range(TEAMS)
        ]
        await session.execute(insert(User), users + supervisors)
        teams = [
            {**base, "id": uuid.uuid4(), "name": f"T{i}", "supervisor_id": s["id"]}
            for i, s in enumerate(supervisors)
        ]
        await session.execute(insert(Team), teams)
        await session.execute(
            insert(TeamMember),
            [{**base, "team_id": teams[i % TEAMS]["id"], "user_id": u["id"]} for i, u in enumerate(users)],
        )
        policies = {
            kind: {**base, "id": uuid.uuid4(), "name": kind.value, "kind": kind, "target_minutes": 60}
            for kind in SlaKind
        }
        await session.execute(insert(SlaPolicy), list(policies.values()))

        def owner() -> uuid.UUID:
            return users[rng.randrange(REPS)]["id"]

        def timer(
            kind: SlaKind, subject_type: str, subject_id: uuid.UUID, owner_id: uuid.UUID, live: bool
        ) -> dict:
            due = _around_now(rng)
            return {
                **base,
                "id": uuid.uuid4(),
                "policy_id": policies[kind]["id"],
                "kind": kind,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "owner_id": owner_id,
                "state": TimerState.running if live else TimerState.met,
                "level": 0,
                "started_at": due - timedelta(hours=1),
                "warn_at": due - timedelta(minutes=12),
                "due_at": due,
                "escalate_at": [],
                "next_fire_at": due if live else None,
            }

        third = open_records // 3
        # Customers: every open opportunity has one; a third of all are followed (a live timer).
        customers = [
            {
                **base,
                "id": uuid.uuid4(),
                "code": f"C{i:07d}",
                "name": f"客户{i}",
                "name_key": f"客户{i}",
                "owner_id": owner(),
            }
            for i in range(third * 2)
        ]
        await session.execute(insert(Customer), customers)
        leads = [
            {
                **base,
                "id": uuid.uuid4(),
                "name": f"线索{i}",
                "source": LeadSource.web_form,
                "status": LeadStatus.assigned if i < third else LeadStatus.converted,
                "owner_id": owner(),
            }
            for i in range(third * 3)  # two thirds closed: history the board must skip
        ]
        await session.execute(insert(Lead), leads)
        opportunities = [
            {
                **base,
                "id": uuid.uuid4(),
                "name": f"商机{i}",
                "customer_id": customers[i % len(customers)]["id"],
                "pipeline_id": stage.pipeline_id,
                "stage_id": stage.id,
                "stage_entered_at": NOW,
                "status": OpportunityStatus.open if i < third else OpportunityStatus.won,
                "owner_id": owner(),
            }
            for i in range(third * 2)
        ]
        await session.execute(insert(Opportunity), opportunities)
        timers = [
            timer(
                SlaKind.first_response,
                "lead",
                lead["id"],
                lead["owner_id"],
                lead["status"] is LeadStatus.assigned,
            )
            for lead in leads
        ]
        timers += [
            timer(
                SlaKind.stage_dwell,
                "opportunity",
                o["id"],
                o["owner_id"],
                o["status"] is OpportunityStatus.open,
            )
            for o in opportunities[::2]
        ]
        timers += [
            timer(SlaKind.follow_up, "customer", c["id"], c["owner_id"], i < third)
            for i, c in enumerate(customers)
        ]
        tasks = [
            {
                **base,
                "id": uuid.uuid4(),
                "title": "回访",
                "due_at": _around_now(rng),
                "assignee_id": o["owner_id"],
                "opportunity_id": o["id"],
                "customer_id": o["customer_id"],
                "status": TaskStatus.open if o["status"] is OpportunityStatus.open else TaskStatus.done,
            }
            for o in opportunities
            for _ in range(rng.randint(1, 4))
        ]
        for chunk in range(0, len(timers), 5000):
            await session.execute(insert(SlaTimer), timers[chunk : chunk + 5000])
        for chunk in range(0, len(tasks), 5000):
            await session.execute(insert(Task), tasks[chunk : chunk + 5000])
        await session.commit()
    if analyze:  # what autovacuum does soon after a load; --no-analyze measures before it has
        async with engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
    await engine.dispose()
    return {
        "organization_id": organization_id,
        "director": Principal.for_user(organization_id, org.admin.id, Role.director),
        "supervisor": Principal.for_user(organization_id, supervisors[0]["id"], Role.supervisor),
        "rep": Principal.for_user(organization_id, users[0]["id"], Role.rep),
        "rows": {
            "leads": len(leads),
            "opportunities": len(opportunities),
            "customers": len(customers),
            "timers": len(timers),
            "tasks": len(tasks),
        },
    }


async def _measure(url: str, seeded: dict[str, Any], runs: int, explain: bool) -> dict[str, Any]:
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    results: dict[str, Any] = {}
    everything = status_board.BoardFilters()
    late = status_board.BoardFilters(
        rags=frozenset({status_board.RagStatus.red, status_board.RagStatus.yellow})
    )
    for who in ("director", "supervisor", "rep"):
        actor = seeded[who]
        for name, call in {
            "list_first_page": lambda s, a=actor: status_board.list_board(
                s, actor=a, now=NOW, filters=everything, limit=50, cursor=None
            ),
            "list_red_yellow": lambda s, a=actor: status_board.list_board(
                s, actor=a, now=NOW, filters=late, limit=50, cursor=None
            ),
            "summary": lambda s, a=actor: status_board.summarize_board(
                s, actor=a, now=NOW, filters=everything
            ),
        }.items():
            timings = []
            for _ in range(runs):
                async with sessionmaker() as session:
                    started = time.perf_counter()
                    outcome = await call(session)
                    timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            size = (
                outcome.counts.total if isinstance(outcome, status_board.BoardSummary) else len(outcome.items)
            )
            results[f"{who}.{name}"] = {
                "median_ms": round(statistics.median(timings), 1),
                "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 1),
                "rows": size,
            }
    if explain:
        async with sessionmaker() as session:
            rows = status_board._rated_board(
                seeded["director"],
                everything,
                (await status_board.policy_for(session, seeded["director"])).rag_thresholds,
                NOW,
            )
            statement = (
                select(rows).order_by(rows.c.plan_due_at.asc().nulls_last(), rows.c.subject_id).limit(51)
            )
            compiled = statement.compile(engine.sync_engine, compile_kwargs={"literal_binds": True})
            plan = await session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}"))
            print("\n".join(line for (line,) in plan))
    await engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--open", type=int, default=20000, help="open leads + opportunities + followed customers"
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--no-analyze", action="store_true", help="measure before the tables have statistics")
    args = parser.parse_args()

    async def run() -> None:
        url = await recreate_database("crm_bench_status_board")
        seeded = await _seed(url, args.open, analyze=not args.no_analyze)
        results = await _measure(url, seeded, args.runs, args.explain)
        print(json.dumps({"rows": seeded["rows"], "results": results}, indent=2, ensure_ascii=False))

    asyncio.run(run())


if __name__ == "__main__":
    main()
