"""Customer health: the facts each customer is scored on, counted set-based for a batch of
customers; the scores stored on the customers with a daily snapshot; the red-band warning.

One path computes every score: the facts of a batch of customers are read with one statement
(three grouped aggregates: activities, won deals, open breaches, joined to the customers with their
stored scores), app/domain/scores/customer_health.py scores each, and one UPDATE (of the scores that
changed) and one upsert (the day's snapshots) store the batch. The nightly run feeds it every
customer without the day's snapshot; an activity, a won deal or an SLA breach feeds it the one
customer whose facts changed.

The score write is a compare-and-set on `health_computed_at`: it lands only if nobody wrote the
customer's score since its facts were read. So falling into red (a band read as green or yellow,
written as red) is announced by exactly one writer, and again only after the band recovered and fell
again.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Select,
    Subquery,
    bindparam,
    case,
    func,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.domain.activities.activities import ActivityType
from app.domain.customers.customer_tier import Tier
from app.domain.identity.principal import Principal
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
from app.domain.notifications.events import CustomerHealthRed
from app.domain.organization.policy import policy_from_settings
from app.domain.platform.errors import FieldError, InvalidInput
from app.domain.scores.customer_health import (
    PREVIOUS_DAYS,
    RECENT_DAYS,
    YEAR_DAYS,
    HealthBand,
    HealthFacts,
    HealthPolicy,
    HealthScore,
    score_health,
    scores_and_bands,
)
from app.domain.scores.engagement import stored_temperature
from app.domain.sla.sla import TimerState
from app.services.assignment.ownership import supervisors_of_users
from app.services.customers import customers
from app.services.platform import bulk, outbox

HEALTH_BATCH = 10000
OPEN_BREACH_STATES = (TimerState.breached.value, TimerState.escalated.value)


@dataclass(frozen=True)
class _Rules:
    """What scoring an organization's customers needs from it: its health settings and the day
    its calendar is on."""

    policy: HealthPolicy
    timezone: ZoneInfo

    def day(self, now: datetime) -> date:
        return now.astimezone(self.timezone).date()


async def _rules(session: AsyncSession, organization_id: uuid.UUID) -> _Rules:
    settings, timezone = (
        await session.execute(
            select(Organization.settings, Organization.timezone).where(Organization.id == organization_id)
        )
    ).one()
    return _Rules(policy_from_settings(settings, timezone).health, ZoneInfo(timezone))


_SUBJECT_COLUMNS: tuple[Any, ...] = (
    Customer.id,
    Customer.tier,
    Customer.temperature,
    Customer.temperature_at,
    Customer.name,
    Customer.code,
    Customer.owner_id,
    Customer.health_score,
    Customer.health_band,
    Customer.health_computed_at,
)


def facts_statement(
    organization_id: uuid.UUID,
    now: datetime,
    *,
    ids: Sequence[uuid.UUID] | None = None,
) -> Select[Any]:
    """Each customer with its facts as of `now` and its stored score: the customers `ids`, or every
    customer of the organization. One statement: three grouped
    aggregates (over the whole organization's rows when no ids are given: one pass each, as a
    hand-written report would read them) joined to the customers."""
    activity = _activity_facts(organization_id, now, ids)
    won = _won_amounts(organization_id, now, ids)
    breaches = _open_breaches(organization_id, ids)
    statement: Select[Any] = (
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
    return statement


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


class Scored(NamedTuple):
    score: int
    band: HealthBand


@dataclass(frozen=True)
class HealthRun:
    customers: int  # scored by this run
    fell_into_red: int  # of which announced as newly red
    written: int = 0  # customers whose stored score or band this run changed


async def refresh_customers(
    session: AsyncSession, *, organization_id: uuid.UUID, customer_ids: Collection[uuid.UUID], now: datetime
) -> HealthRun:
    """Scores these customers now (their facts changed), waiting for any lock on them. Their score
    is written even if unchanged, so `health_computed_at` tells a nightly run reading older facts
    that this score is fresher."""
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
    rules = await _rules(session, organization_id)
    return await _score_and_store(session, organization_id, rows, rules, now, rewrite=True)


async def due_day(session: AsyncSession, organization_id: uuid.UUID, now: datetime) -> date:
    """The organization's current day: customers without its snapshot are due."""
    return (await _rules(session, organization_id)).day(now)


async def any_due(session: AsyncSession, organization_id: uuid.UUID, day: date) -> bool:
    """Whether a customer lacks the day's snapshot (every computation writes one, and a customer has
    at most one a day): two index counts, so the hourly runs after the night's cost little."""
    customers = await session.scalar(
        select(func.count()).select_from(Customer).where(Customer.organization_id == organization_id)
    )
    snapshots = await session.scalar(
        select(func.count())
        .select_from(CustomerHealthSnapshot)
        .where(
            CustomerHealthSnapshot.organization_id == organization_id,
            CustomerHealthSnapshot.snapshot_on == day,
        )
    )
    return bool(customers and customers > (snapshots or 0))


async def _scored_on(session: AsyncSession, organization_id: uuid.UUID, day: date) -> set[uuid.UUID]:
    rows = await session.scalars(
        select(CustomerHealthSnapshot.customer_id).where(
            CustomerHealthSnapshot.organization_id == organization_id,
            CustomerHealthSnapshot.snapshot_on == day,
        )
    )
    return set(rows.all())


async def due_facts(
    session: AsyncSession, organization_id: uuid.UUID, *, day: date, now: datetime, batch: int
) -> AsyncIterator[Sequence[Any]]:
    """The due customers with their facts (facts_statement), a batch at a time, for store_due to
    write each in a transaction of its own while this session reads on (PostgreSQL: one streamed
    statement, nothing locked). On SQLite every transaction here begins as the one writer, so all
    is read first and this session's transaction ended before the batches are written.

    The customers scored on `day` already (by an activity since midnight, or by an interrupted run)
    are read first and left out here, not by an anti-join in the statement: planned against a
    snapshot table the statistics call empty (the first night), that join rescanned the table for
    each customer while the batches filled it, quadratic (over 500 s at 100,000 customers)."""
    done = await _scored_on(session, organization_id, day)
    statement = facts_statement(organization_id, now)
    if session.get_bind().dialect.name == "sqlite":
        rows = [row for row in (await session.execute(statement)).all() if row.id not in done]
        await session.rollback()
        for start in range(0, len(rows), batch):
            yield rows[start : start + batch]
        return
    # A cursor is planned for its first rows by default (10 %): nested loops and index walks in
    # customer order, ~1M random heap reads of activities at 100,000 customers (8.8 s alone, and
    # over 500 s while the batches wrote the customers it walked). Planned for all rows, it reads
    # each table once and hashes, as the hand-written UPDATE does (2.5 s).
    await session.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))
    async for partition in (await session.stream(statement)).partitions(batch):
        due = [row for row in partition if row.id not in done]
        if due:
            yield due


async def store_due(
    session: AsyncSession, *, organization_id: uuid.UUID, rows: Sequence[Any], now: datetime
) -> HealthRun:
    """Scores and stores a batch of the nightly run's customers, from facts read earlier in the run
    (due_facts), locking nothing: only scores that changed are written, each only
    if the customer's `health_computed_at` is still the one read (a customer an activity rescored
    meanwhile keeps that fresher score), and the day's snapshot is kept unless a later computation
    wrote it already."""
    return await _score_and_store(session, organization_id, rows, await _rules(session, organization_id), now)


async def _score_and_store(
    session: AsyncSession,
    organization_id: uuid.UUID,
    subjects: Sequence[Any],
    rules: _Rules,
    now: datetime,
    *,
    rewrite: bool = False,
) -> HealthRun:
    if not subjects:
        return HealthRun(0, 0)
    computed = scores_and_bands((facts_of(subject) for subject in subjects), rules.policy, now)
    scores = {subject.id: Scored(*pair) for subject, pair in zip(subjects, computed, strict=True)}
    changed = [
        s
        for s in subjects
        if rewrite or (s.health_score, s.health_band) != (scores[s.id].score, scores[s.id].band.value)
    ]
    written = await _store_scores(session, changed, scores, now)
    lost = {s.id for s in changed} - written  # written by another transaction since read
    # A customer scored for the first time has no band to fall from: it is not announced, or the
    # first night after an upgrade would send one message per red customer of the base.
    fallen = [
        s
        for s in changed
        if s.id in written
        and scores[s.id].band is HealthBand.red
        and s.health_band in (HealthBand.green.value, HealthBand.yellow.value)
    ]
    kept = [s for s in subjects if s.id not in lost]
    await _snapshot(session, organization_id, kept, scores, rules.day(now), now)
    await _announce_red(session, organization_id, fallen, scores)
    return HealthRun(len(scores), len(fallen), len(written))


async def _store_scores(
    session: AsyncSession, changed: Sequence[Any], scores: dict[uuid.UUID, Scored], now: datetime
) -> set[uuid.UUID]:
    """One compare-and-set UPDATE of the changed scores; the ids written."""
    rows = [
        {
            "id": s.id,
            "health_score": scores[s.id].score,
            "health_band": scores[s.id].band.value,
            "expected": s.health_computed_at,
        }
        for s in changed
    ]
    written = await bulk.update_rows_if_unchanged(
        session,
        bulk.table_of(Customer),
        rows,
        key="id",
        guard="health_computed_at",
        same_for_all={"health_computed_at": now},
    )
    # Customers this session holds as entities (the one an activity was just logged on) show the
    # new score without a reload; set as loaded values, they are not written again.
    for entity in list(session.identity_map.values()):
        if isinstance(entity, Customer) and entity.id in written:
            score = scores[entity.id]
            set_committed_value(entity, "health_score", score.score)
            set_committed_value(entity, "health_band", score.band)
            set_committed_value(entity, "health_computed_at", now)
    return written


async def _snapshot(
    session: AsyncSession,
    organization_id: uuid.UUID,
    subjects: Sequence[Any],
    scores: dict[uuid.UUID, Scored],
    day: date,
    now: datetime,
) -> None:
    """The day's row per customer, made, or overwritten unless a later computation wrote it."""
    rows = [
        {
            "organization_id": organization_id,
            "customer_id": s.id,
            "snapshot_on": day,
            "score": scores[s.id].score,
            "band": scores[s.id].band.value,
            "computed_at": now,
        }
        for s in subjects
    ]
    await bulk.upsert_rows(
        session,
        bulk.table_of(CustomerHealthSnapshot),
        rows,
        index_elements=["organization_id", "customer_id", "snapshot_on"],
        newer_by="computed_at",
    )


async def _announce_red(
    session: AsyncSession,
    organization_id: uuid.UUID,
    fallen: Sequence[Any],
    scores: dict[uuid.UUID, Scored],
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
