"""A record's kept plan under concurrent writers (PostgreSQL, READ COMMITTED): one transaction
completes a deal's earliest task while another adds a task to the same deal. The second waits for
the first's lock on the deal and then reads the tasks as committed, so the plan ends as the earliest
open task; without the lock it would keep the completed task's instant."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.reports.test_status_board import _deal, _pipeline
from tests.conftest import eventually
from tests.factories import create_task


async def test_a_task_added_while_another_completes_leaves_the_earliest_open_one_as_plan(
    client, make_tenant, make_user, clock, engine: AsyncEngine
):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers")
    tenant = await make_tenant()
    rep, _ = await make_user(tenant, "rep")
    deal = await _deal(client, tenant.headers, await _pipeline(client, tenant.headers), rep, "并发商机")
    first = await create_task(
        client, tenant.headers, clock.now + timedelta(hours=1), opportunity_id=deal["id"], title="最早"
    )
    await create_task(
        client, tenant.headers, clock.now + timedelta(hours=9), opportunity_id=deal["id"], title="最晚"
    )
    added_due = clock.now + timedelta(hours=5)

    async with engine.connect() as completing, engine.connect() as adding:
        await completing.execute(text("UPDATE task SET status = 'done' WHERE id = :id"), {"id": first["id"]})

        async def add_task() -> None:
            await adding.execute(
                text(
                    "INSERT INTO task (id, organization_id, title, status, opportunity_id, due_at,"
                    " created_at, updated_at, version)"
                    " SELECT gen_random_uuid(), organization_id, '新增', 'open', id, :due, now(), now(), 1"
                    " FROM opportunity WHERE id = :deal"
                ),
                {"due": added_due, "deal": deal["id"]},
            )
            await adding.commit()

        completing_pid = await completing.scalar(text("SELECT pg_backend_pid()"))
        adding_pid = await adding.scalar(text("SELECT pg_backend_pid()"))
        adding_task = asyncio.create_task(add_task())

        async def blocked() -> bool:
            """the second writer waiting for the first's lock on the deal"""
            async with engine.connect() as watching:
                blockers = await watching.scalar(text("SELECT pg_blocking_pids(:pid)"), {"pid": adding_pid})
            return completing_pid in (blockers or [])

        await eventually(blocked, seconds=10)
        assert not adding_task.done()
        await completing.commit()
        await adding_task

    async with engine.connect() as reading:
        plan: datetime = (
            await reading.execute(
                text("SELECT plan_due_at FROM opportunity WHERE id = :id"), {"id": deal["id"]}
            )
        ).scalar_one()
        earliest = (
            await reading.execute(
                text("SELECT min(due_at) FROM task WHERE opportunity_id = :id AND status = 'open'"),
                {"id": deal["id"]},
            )
        ).scalar_one()
    assert plan == earliest == added_due
