"""The process-execution index: required actions done / required, per rep and week, with each
required action's breakdown. Definition: docs/kpis.md#pei."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import Activity, Task, TaskStatus, User
from app.domain.reports.kpis import ACTION_PACK, Dimension, KpiQuery, PeiRequirements, pei_weeks, ratio
from app.services.kpis.activities import ACTIVITY_FACTS
from app.services.kpis.people import USER_FACTS
from app.services.kpis.scope import Facts, in_period, local_period, period_name, scoped
from app.services.organization.policy import rules_for

TASK_FACTS = Facts(
    organization_id=Task.organization_id, owner_id=Task.assignee_id, region=None, industry=None, source=None
)


# Counts by (rep id, week's Monday as ISO date) and, for activities, the activity type.
_ActivitiesDone = defaultdict[tuple[Any, str, str], int]
_TasksDueAndDone = dict[tuple[Any, str], tuple[int, int]]


async def pei(session: AsyncSession, *, actor: Principal, query: KpiQuery) -> list[dict[str, Any]]:
    requirements = (await rules_for(session, actor.organization_id)).pei
    tz = ZoneInfo(query.timezone)
    weeks = pei_weeks(query.start, query.end, tz)
    if not weeks:
        return []
    # Whole weeks: from the first Monday in the period to the Sunday after the last one.
    window = replace(
        query,
        start=datetime.combine(weeks[0], time(0), tz),
        end=datetime.combine(weeks[-1] + timedelta(days=7), time(0), tz),
    )
    reps = (
        await session.execute(
            select(User.id, User.display_name)
            .where(*scoped(actor, USER_FACTS, query), User.role == Role.rep, User.is_active.is_(True))
            .order_by(User.display_name, User.id)
        )
    ).all()
    activities_done = await _activities_done(session, actor, query, window, requirements)
    tasks = await _action_pack_tasks(session, actor, query, window) if requirements.action_pack_tasks else {}
    return [
        _rep_week(rep_id, name, monday.isoformat(), requirements, activities_done, tasks)
        for rep_id, name in reps
        for monday in weeks
    ]


async def _activities_done(
    session: AsyncSession, actor: Principal, query: KpiQuery, window: KpiQuery, requirements: PeiRequirements
) -> _ActivitiesDone:
    done: _ActivitiesDone = defaultdict(int)
    kinds = [kind for kind, _ in requirements.activities]
    if not kinds:
        return done
    week = local_period(Activity.occurred_at, Dimension.week, window, session.get_bind().dialect.name)
    counted = (
        select(Activity.owner_id, week.label("week"), Activity.type, func.count().label("n"))
        .where(
            *scoped(actor, ACTIVITY_FACTS, query),
            Activity.type.in_(kinds),
            in_period(Activity.occurred_at, window),
        )
        .group_by(Activity.owner_id, week, Activity.type)
    )
    for row in await session.execute(counted):
        done[(row.owner_id, row.week, row.type.value)] = row.n
    return done


async def _action_pack_tasks(
    session: AsyncSession, actor: Principal, query: KpiQuery, window: KpiQuery
) -> _TasksDueAndDone:
    """Stage action-pack tasks due, and those of them done in time."""
    dialect = session.get_bind().dialect.name
    due_week = local_period(Task.due_at, Dimension.week, window, dialect)
    # Done in time: completed no later than the end of the week it was due in.
    in_its_week = and_(
        Task.status == TaskStatus.done,
        local_period(Task.completed_at, Dimension.week, window, dialect) <= due_week,
    )
    counted = (
        select(
            Task.assignee_id,
            due_week.label("week"),
            func.count().label("due"),
            func.coalesce(func.sum(case((in_its_week, 1), else_=0)), 0).label("done"),
        )
        .where(
            *scoped(actor, TASK_FACTS, query),
            Task.stage_id.is_not(None),
            Task.status != TaskStatus.cancelled,
            in_period(Task.due_at, window),
        )
        .group_by(Task.assignee_id, due_week)
    )
    return {(row.assignee_id, row.week): (row.due, row.done) for row in await session.execute(counted)}


def _rep_week(
    rep_id: Any,
    name: str,
    week: str,
    requirements: PeiRequirements,
    activities_done: _ActivitiesDone,
    tasks: _TasksDueAndDone,
) -> dict[str, Any]:
    actions = [
        _action(kind, count, activities_done[(rep_id, week, kind)]) for kind, count in requirements.activities
    ]
    if requirements.action_pack_tasks:
        actions.append(_action(ACTION_PACK, *tasks.get((rep_id, week), (0, 0))))
    required = sum(a["required"] for a in actions)
    credited = sum(a["credited"] for a in actions)
    return {
        "user": {"id": str(rep_id), "name": name},
        "week": {"id": week, "name": period_name(Dimension.week, week)},
        "required": required,
        "done": credited,
        "pei": ratio(credited, required),
        "actions": actions,
    }


def _action(action: str, required: int, done: int) -> dict[str, Any]:
    """Doing more of one action does not make up for another: each counts up to its requirement."""
    return {"action": action, "required": required, "done": done, "credited": min(done, required)}
