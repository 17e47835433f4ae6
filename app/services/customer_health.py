"""Customer health: the facts each customer is scored on, counted set-based for a batch of
customers; the scores stored on the customers with a daily snapshot; the red-band warning.

One path computes every score: a batch of customers is locked, its facts are read with three
grouped queries (activities, won deals, open breaches), app/domain/customer_health.py scores each,
and two UPDATEs and one upsert store the batch. The nightly run feeds it the customers not yet
computed on the organization's current day; an activity, a won deal or an SLA breach feeds it the
one customer whose facts changed.

Falling into red is decided by one conditional UPDATE (`health_band` becomes red only where it was
green or yellow), so of two runs scoring the same customer at once only one announces it, and it is
announced again only after the band recovered and fell again.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    bindparam,
    case,
    func,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.db import UTCDateTime
from app.domain.activities import ActivityType
from app.domain.customer_health import (
    PREVIOUS_DAYS,
    RECENT_DAYS,
    YEAR_DAYS,
    HealthBand,
    HealthFacts,
    HealthPolicy,
    HealthScore,
    score_health,
)
from app.domain.customer_tier import Tier
from app.domain.engagement import stored_temperature
from app.domain.errors import FieldError, InvalidInput
from app.domain.events import CustomerHealthRed
from app.domain.models import (
    Activity,
    Customer,
    CustomerHealthSnapshot,
    Lead,
    Opportunity,
    OpportunityStatus,
    Organization,
    SlaTimer,
    User,
)
from app.domain.policy import policy_from_settings
from app.domain.principal import Principal
from app.domain.sla import TimerState
from app.portable_sql import random_uuid
from app.services import bulk, customers, outbox
from app.services.common import dialect_insert
from app.services.jobs import JobName, JobRequest, enqueue_after_commit
from app.services.ownership import supervisors_of_users

HEALTH_BATCH = 5000
OPEN_BREACH_STATES = (TimerState.breached.value, TimerState.escalated.value)


@dataclass(frozen=True)
class _Rules:
    """What scoring an organization's customers needs from it: its health settings and the day
    its calendar is on."""

    policy: HealthPolicy
    timezone: ZoneInfo

    def day(self, now: datetime) -> date:
        return now.astimezone(self.timezone).date()

    def day_started_at(self, now: datetime) -> datetime:
        return datetime.combine(self.day(now), time(0), self.timezone)


async def _rules(session: AsyncSession, organization_id: uuid.UUID) -> _Rules:
    settings, timezone = (
        await session.execute(
            select(Organization.settings, Organization.timezone).where(Organization.id == organization_id)
        )
    ).one()
    return _Rules(policy_from_settings(settings, timezone).health, ZoneInfo(timezone))


_SUBJECT_COLUMNS = (
    Customer.id,
    Customer.tier,
    Customer.temperature,
    Customer.temperature_at,
    Customer.name,
    Customer.code,
    Customer.owner_id,
)


def facts_statement(
    organization_id: uuid.UUID,
    now: datetime,
    *,
    ids: Sequence[uuid.UUID] | None = None,
    due_before: datetime | None = None,
) -> Select[Any]:
    """Each customer with its facts as of `now`: the customers `ids`, or every customer of the
    organization not scored since `due_before`. One statement: three grouped aggregates (over the
    whole organization's rows when no ids are given: one pass each, as a hand-written report would
    read them) joined to the customers."""
    activity = _activity_facts(organization_id, now, ids)
    won = _won_amounts(organization_id, now, ids)
    breaches = _open_breaches(organization_id, ids)
    statement = (
        select(
            *_SUBJECT_COLUMNS,
            activity.c.last_effective,
            activity.c.recent,
            activity.c.previous,
            activity.c.satisfaction,
            won.c.amount,
            breaches.c.open_breaches,
        )
        .outerjoin(activity, activity.c.customer_id == Customer.id)
        .outerjoin(won, won.c.customer_id == Customer.id)
        .outerjoin(breaches, breaches.c.customer_id == Customer.id)
        .where(Customer.organization_id == organization_id)
    )
    if ids is not None:
        statement = statement.where(Customer.id.in_(ids))
    if due_before is not None:
        statement = statement.where(_due(due_before))
    return statement


def _due(due_before: datetime) -> ColumnElement[bool]:
    return Customer.health_computed_at.is_(None) | (Customer.health_computed_at < due_before)


def facts_of(row: Any) -> HealthFacts:
    return HealthFacts(
        tier=Tier(row.tier),
        last_effective_follow_up_at=row.last_effective,
        activities_last_30_days=row.recent or 0,
        activities_previous_60_days=row.previous or 0,
        won_amount_12_months=Decimal(row.amount or 0),
        open_breaches=row.open_breaches or 0,
        satisfaction=None if row.satisfaction is None else float(row.satisfaction),
        temperature=stored_temperature(row.temperature, row.temperature_at),
    )


def _activity_facts(organization_id: uuid.UUID, now: datetime, ids: Sequence[uuid.UUID] | None) -> Subquery:
    # A note is written at the desk: it is no sign of the customer's activity (as it is no
    # effective follow-up).
    counted = Activity.type != ActivityType.note.value
    recent_from = now - timedelta(days=RECENT_DAYS)
    previous_from = recent_from - timedelta(days=PREVIOUS_DAYS)
    in_previous = counted & (Activity.occurred_at >= previous_from) & (Activity.occurred_at < recent_from)
    satisfaction = case((Activity.occurred_at >= now - timedelta(days=YEAR_DAYS), Activity.satisfaction))
    statement = select(
        Activity.customer_id,
        func.max(case((Activity.is_effective, Activity.occurred_at))).label("last_effective"),
        func.count(case((counted & (Activity.occurred_at >= recent_from), 1))).label("recent"),
        func.count(case((in_previous, 1))).label("previous"),
        func.avg(satisfaction).label("satisfaction"),
    ).where(Activity.organization_id == organization_id, Activity.customer_id.is_not(None))
    if ids is not None:
        statement = statement.where(Activity.customer_id.in_(ids))
    return statement.group_by(Activity.customer_id).subquery("activity_facts")


def _won_amounts(organization_id: uuid.UUID, now: datetime, ids: Sequence[uuid.UUID] | None) -> Subquery:
    statement = select(Opportunity.customer_id, func.sum(Opportunity.amount).label("amount")).where(
        Opportunity.organization_id == organization_id,
        Opportunity.status == OpportunityStatus.won.value,
        Opportunity.closed_at >= now - timedelta(days=YEAR_DAYS),
    )
    if ids is not None:
        statement = statement.where(Opportunity.customer_id.in_(ids))
    return statement.group_by(Opportunity.customer_id).subquery("won_facts")


def _open_breaches(organization_id: uuid.UUID, ids: Sequence[uuid.UUID] | None) -> Subquery:
    """Breached timers still running on the customer, its leads and its opportunities."""
    # The states as literals, so the planner matches the partial index over live timers.
    open_breach = SlaTimer.state.in_(
        bindparam("open_breach_states", list(OPEN_BREACH_STATES), expanding=True, literal_execute=True)
    )

    def breached(subject_type: str) -> Any:
        return (
            (SlaTimer.organization_id == organization_id)
            & (SlaTimer.subject_type == subject_type)
            & open_breach
        )

    def of(customer_id: Any) -> Any:
        return customer_id.in_(ids) if ids is not None else customer_id.is_not(None)

    on_records = union_all(
        select(SlaTimer.subject_id.label("customer_id")).where(breached("customer"), of(SlaTimer.subject_id)),
        select(Lead.customer_id)
        .join(SlaTimer, SlaTimer.subject_id == Lead.id)
        .where(breached("lead"), Lead.organization_id == organization_id, of(Lead.customer_id)),
        select(Opportunity.customer_id)
        .join(SlaTimer, SlaTimer.subject_id == Opportunity.id)
        .where(
            breached("opportunity"),
            Opportunity.organization_id == organization_id,
            of(Opportunity.customer_id),
        ),
    ).subquery()
    return (
        select(on_records.c.customer_id, func.count().label("open_breaches"))
        .group_by(on_records.c.customer_id)
        .subquery("breach_facts")
    )


@dataclass(frozen=True)
class HealthRun:
    customers: int  # scored by this run
    fell_into_red: int  # of which announced as newly red


async def refresh_customers(
    session: AsyncSession, *, organization_id: uuid.UUID, customer_ids: Collection[uuid.UUID], now: datetime
) -> HealthRun:
    """Scores these customers now (their facts changed), waiting for any lock on them."""
    locked = await session.scalars(
        select(Customer.id)
        .where(Customer.organization_id == organization_id, Customer.id.in_(list(customer_ids)))
        .order_by(Customer.id)
        .with_for_update()
    )
    ids = list(locked.all())
    if not ids:  # gone since the request (deleted, or the organization with them)
        return HealthRun(0, 0)
    rows = (await session.execute(facts_statement(organization_id, now, ids=ids))).all()
    return await _score_and_store(session, organization_id, rows, await _rules(session, organization_id), now)


async def due_day_start(session: AsyncSession, organization_id: uuid.UUID, now: datetime) -> datetime:
    """When the organization's current day began: customers scored before then are due."""
    return (await _rules(session, organization_id)).day_started_at(now)


async def due_facts(
    session: AsyncSession, organization_id: uuid.UUID, *, due_before: datetime, now: datetime, batch: int
) -> AsyncIterator[Sequence[Any]]:
    """The due customers with their facts (facts_statement), a batch at a time, for store_due to
    write each in a transaction of its own while this session reads on (PostgreSQL: one streamed
    statement, nothing locked). On SQLite every transaction here begins as the one writer, so all
    is read first and this session's transaction ended before the batches are written."""
    statement = facts_statement(organization_id, now, due_before=due_before)
    if session.get_bind().dialect.name == "sqlite":
        rows = (await session.execute(statement)).all()
        await session.rollback()
        for start in range(0, len(rows), batch):
            yield rows[start : start + batch]
        return
    async for partition in (await session.stream(statement)).partitions(batch):
        yield partition


async def store_due(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    rows: Sequence[Any],
    due_before: datetime,
    now: datetime,
) -> HealthRun:
    """Scores and stores a batch of the nightly run's customers, from facts read earlier in the run
    (facts_statement with `due_before`). Only those still due are written, locked first: a customer
    an activity rescored meanwhile keeps that fresher score, and one another transaction holds is
    left to the next run."""
    still_due = set(
        (
            await session.scalars(
                select(Customer.id)
                .where(Customer.id.in_([row.id for row in rows]), _due(due_before))
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    rules = await _rules(session, organization_id)
    return await _score_and_store(
        session, organization_id, [r for r in rows if r.id in still_due], rules, now
    )


async def _score_and_store(
    session: AsyncSession,
    organization_id: uuid.UUID,
    subjects: Sequence[Any],
    rules: _Rules,
    now: datetime,
) -> HealthRun:
    if not subjects:
        return HealthRun(0, 0)
    scores = {subject.id: score_health(facts_of(subject), rules.policy, now) for subject in subjects}
    newly_red = await _mark_red(session, [i for i, s in scores.items() if s.band is HealthBand.red])
    await _store_scores(session, scores, now)
    await _snapshot(session, list(scores), rules.day(now), now)
    await _announce_red(session, organization_id, [s for s in subjects if s.id in newly_red], scores)
    return HealthRun(len(scores), len(newly_red))


async def _mark_red(session: AsyncSession, red_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Sets the band red where it was green or yellow; returns those customers (whom this run
    tells). A customer scored for the first time has no band to fall from: it is not announced, or
    the first night after an upgrade would send one message per red customer of the base."""
    if not red_ids:
        return set()
    customer = bulk.table_of(Customer)
    crossed = await session.execute(
        update(customer)
        .where(
            customer.c.id.in_(red_ids),
            customer.c.health_band.in_([HealthBand.green.value, HealthBand.yellow.value]),
        )
        .values(health_band=HealthBand.red.value, updated_at=customer.c.updated_at)
        .returning(customer.c.id)
    )
    return set(crossed.scalars().all())


async def _store_scores(session: AsyncSession, scores: dict[uuid.UUID, HealthScore], now: datetime) -> None:
    rows = [{"id": i, "health_score": s.score, "health_band": s.band.value} for i, s in scores.items()]
    await bulk.update_rows(
        session,
        bulk.table_of(Customer),
        rows,
        key="id",
        same_for_all={"health_computed_at": now},
        derived=True,
    )
    # Customers this session holds as entities (the one an activity was just logged on) show the
    # new score without a reload; set as loaded values, they are not written again.
    for entity in list(session.identity_map.values()):
        if isinstance(entity, Customer) and entity.id in scores:
            score = scores[entity.id]
            set_committed_value(entity, "health_score", score.score)
            set_committed_value(entity, "health_band", score.band)
            set_committed_value(entity, "health_computed_at", now)


async def _snapshot(session: AsyncSession, ids: list[uuid.UUID], day: date, now: datetime) -> None:
    """The day's row per customer, made or overwritten from the scores just stored."""
    insert = dialect_insert(session)
    snapshot = bulk.table_of(CustomerHealthSnapshot)
    statement = insert(snapshot).from_select(
        ["id", "organization_id", "customer_id", "snapshot_on", "score", "band", "computed_at"],
        select(
            random_uuid(),
            Customer.organization_id,
            Customer.id,
            literal(day),
            Customer.health_score,
            Customer.health_band,
            literal(now, UTCDateTime()),
        ).where(Customer.id.in_(ids)),
    )
    statement = statement.on_conflict_do_update(
        index_elements=["organization_id", "customer_id", "snapshot_on"],
        set_={name: statement.excluded[name] for name in ("score", "band", "computed_at")},
    )
    await session.execute(statement)


async def _announce_red(
    session: AsyncSession,
    organization_id: uuid.UUID,
    fallen: Sequence[Any],
    scores: dict[uuid.UUID, HealthScore],
) -> None:
    """customer.health_red to each fallen customer's owner and the owner's supervisors."""
    if not fallen:
        return
    owner_ids = {subject.owner_id for subject in fallen if subject.owner_id is not None}
    names = dict(
        (await session.execute(select(User.id, User.display_name).where(User.id.in_(owner_ids)))).all()
    )
    supervisors = await supervisors_of_users(session, owner_ids, organization_id=organization_id)
    events = [
        CustomerHealthRed(
            customer_id=subject.id,
            customer_name=subject.name,
            customer_code=subject.code,
            owner_id=subject.owner_id,
            owner_name=names.get(subject.owner_id, ""),
            score=scores[subject.id].score,
            notify_user_ids=tuple(
                dict.fromkeys([subject.owner_id, *supervisors.get(subject.owner_id, [])])
                if subject.owner_id is not None
                else ()
            ),
        )
        for subject in fallen
    ]
    outbox.record_many(session, organization_id=organization_id, events=events)


async def organizations_with_customers(session: AsyncSession) -> list[uuid.UUID]:
    return list((await session.scalars(select(Customer.organization_id).distinct())).all())


def refresh_job(organization_id: uuid.UUID, customer_ids: Collection[uuid.UUID]) -> JobRequest:
    return JobRequest(
        JobName.refresh_customer_health, args=(str(organization_id), sorted(str(i) for i in customer_ids))
    )


async def request_refresh_after_breaches(session: AsyncSession, timer_ids: Collection[uuid.UUID]) -> None:
    """After commit, the health of the customers whose records these breached timers run on.

    A job rather than a recompute in the sweep's transaction: the sweep holds its timers locked,
    and an activity holds its customer while it stops timers, so scoring (writing the customer)
    here could deadlock with it."""
    if not timer_ids:
        return
    customer_of = func.coalesce(Customer.id, Lead.customer_id, Opportunity.customer_id)
    rows = await session.execute(
        select(SlaTimer.organization_id, customer_of)
        .outerjoin(Customer, (SlaTimer.subject_type == "customer") & (Customer.id == SlaTimer.subject_id))
        .outerjoin(Lead, (SlaTimer.subject_type == "lead") & (Lead.id == SlaTimer.subject_id))
        .outerjoin(
            Opportunity, (SlaTimer.subject_type == "opportunity") & (Opportunity.id == SlaTimer.subject_id)
        )
        .where(SlaTimer.id.in_(list(timer_ids)), customer_of.is_not(None))
        .distinct()
    )
    by_organization: dict[uuid.UUID, set[uuid.UUID]] = {}
    for organization_id, customer_id in rows.all():
        by_organization.setdefault(organization_id, set()).add(customer_id)
    for organization_id, customer_ids in by_organization.items():
        enqueue_after_commit(session, refresh_job(organization_id, customer_ids))


@dataclass(frozen=True)
class HealthReport:
    customer: Customer
    facts: HealthFacts
    score: HealthScore
    policy: HealthPolicy
    at: datetime


async def customer_health(
    session: AsyncSession, *, actor: Principal, customer_id: uuid.UUID, now: datetime
) -> HealthReport:
    """The customer's health computed now, with what it is computed from (nothing is stored)."""
    customer = await customers.get_customer(session, actor=actor, customer_id=customer_id)
    row = (await session.execute(facts_statement(customer.organization_id, now, ids=[customer.id]))).one()
    facts = facts_of(row)
    policy = (await _rules(session, customer.organization_id)).policy
    return HealthReport(customer, facts, score_health(facts, policy, now), policy, now)


MAX_HISTORY_DAYS = 366


async def health_history(
    session: AsyncSession,
    *,
    actor: Principal,
    customer_id: uuid.UUID,
    since: date | None,
    until: date | None,
    now: datetime,
) -> tuple[date, date, list[CustomerHealthSnapshot]]:
    """The daily snapshots from `since` to `until` (both included; the last 90 days by default)."""
    customer = await customers.get_customer(session, actor=actor, customer_id=customer_id)
    until = until or (await _rules(session, customer.organization_id)).day(now)
    since = since or until - timedelta(days=89)
    _check_period(since, until)
    rows = await session.scalars(
        select(CustomerHealthSnapshot)
        .where(
            CustomerHealthSnapshot.organization_id == customer.organization_id,
            CustomerHealthSnapshot.customer_id == customer.id,
            CustomerHealthSnapshot.snapshot_on >= since,
            CustomerHealthSnapshot.snapshot_on <= until,
        )
        .order_by(CustomerHealthSnapshot.snapshot_on)
    )
    return since, until, list(rows.all())


def _check_period(since: date, until: date) -> None:
    if since > until or (until - since).days >= MAX_HISTORY_DAYS:
        raise InvalidInput(
            f"Give from <= to, at most {MAX_HISTORY_DAYS} days apart.",
            code="customer_health.period_invalid",
            errors=[FieldError("from", "range", f"from <= to, at most {MAX_HISTORY_DAYS} days")],
        )
