"""Win probability: snapshots of deals as of an instant (SQL), training per organization, scoring
and explaining one deal, and keeping the stored `opportunity.win_probability` current.

As of when. An open deal is read as of now. A closed deal is read as of **the last stage change
before its close** (when it entered the stage it closed from): its stage then, the amount recorded
when it entered it, its age then, the activities up to then and its owner's record of deals closed
before then. Nothing the close sets (status, close date, cycle length, close amount) is selected
into the snapshot; the outcome travels beside it, for the label and the time split only.
"""

from __future__ import annotations

import asyncio
import bisect
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table, and_, bindparam, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from app.db import UTCDateTime
from app.domain.identity.principal import Principal
from app.domain.models import (
    Activity,
    Customer,
    Lead,
    Opportunity,
    OpportunityStatus,
    Organization,
    PipelineStage,
    StageStay,
    WinModel,
)
from app.domain.scores.win_probability import (
    FEATURE_NAMES,
    MIN_CLOSED_DEALS,
    DealSnapshot,
    Prediction,
    ProbabilitySource,
    features,
    predict,
)
from app.domain.scores.win_training import LabelledSnapshot, train_models
from app.portable_sql import seconds_between
from app.services.platform.jobs import JobName, JobRequest, enqueue_after_commit

_DAY = 86400.0
# The share of closed deals, newest, kept out of training to judge the models when no cut is given.
HOLDOUT_SHARE = 0.2
TOP_FACTORS = len(FEATURE_NAMES)  # every factor: there are few, and a client shows the first
# The nightly retrain runs in this local hour of the organization, once a day at most.
NIGHTLY_HOURS = range(1, 5)
_RETRAIN_AGE = timedelta(hours=20)


@dataclass(frozen=True)
class _AsOf:
    """Where a deal stood at the instant it is read: its stage, when it entered it, the instant,
    and the amount known then."""

    stage_id: Any
    entered_at: Any
    instant: Any
    amount: Any


@dataclass(frozen=True)
class ScoredDeal:
    opportunity_id: uuid.UUID
    snapshot: DealSnapshot
    stage_probability: int


def _snapshot_statement(organization_id: uuid.UUID, at: _AsOf, through: Any = None) -> Select[Any]:
    """`through`: (alias, on clause) of the stay a closed deal is read at, joined first."""
    opportunity_id, instant = Opportunity.id, at.instant

    def activities_within(days: int) -> Any:
        return (
            select(func.count())
            .where(
                Activity.organization_id == organization_id,
                Activity.opportunity_id == opportunity_id,
                Activity.occurred_at <= instant,
                seconds_between(Activity.occurred_at, instant) < days * _DAY,
            )
            .scalar_subquery()
        )

    stays = aliased(StageStay)
    # organization_id first in every lookup: the (organization_id, opportunity_id, …) indexes serve them.
    opened_at = select(func.min(stays.entered_at)).where(
        stays.organization_id == organization_id, stays.opportunity_id == opportunity_id
    )
    previous_dwell = select(stays.dwell_seconds).where(
        stays.organization_id == organization_id,
        stays.opportunity_id == opportunity_id,
        stays.left_at == at.entered_at,
    )
    last_effective = select(func.max(Activity.occurred_at)).where(
        Activity.organization_id == organization_id,
        Activity.opportunity_id == opportunity_id,
        Activity.is_effective.is_(True),
        Activity.occurred_at <= instant,
    )
    statement = select(
        Opportunity.id,
        Opportunity.owner_id,
        Opportunity.product_lines,
        PipelineStage.name.label("stage"),
        PipelineStage.probability.label("stage_probability"),
        Customer.industry,
        Lead.source,
        at.amount.label("amount"),
        instant.label("instant"),
        (seconds_between(at.entered_at, instant) / _DAY).label("days_in_stage"),
        (seconds_between(opened_at.scalar_subquery(), instant) / _DAY).label("deal_age_days"),
        (previous_dwell.limit(1).scalar_subquery() / _DAY).label("days_in_previous_stage"),
        activities_within(14).label("activities_14d"),
        activities_within(60).label("activities_60d"),
        (seconds_between(last_effective.scalar_subquery(), instant) / _DAY).label("days_since_effective"),
    ).select_from(Opportunity)
    if through is not None:
        statement = statement.join(*through)
    return (
        statement.join(PipelineStage, PipelineStage.id == at.stage_id)
        .join(Customer, Customer.id == Opportunity.customer_id)
        .outerjoin(Lead, Lead.id == Opportunity.source_lead_id)
        .where(Opportunity.organization_id == organization_id)
    )


class _OwnerRecords:
    """Every closed deal's owner, close instant and outcome, to count an owner's record before any
    instant without one query per deal."""

    def __init__(self, rows: Sequence[Any]) -> None:
        closes: dict[uuid.UUID | None, list[tuple[datetime, bool]]] = defaultdict(list)
        for owner_id, closed_at, won in rows:
            closes[owner_id].append((closed_at, won))
        self._instants: dict[uuid.UUID | None, list[datetime]] = {}
        self._won_so_far: dict[uuid.UUID | None, list[int]] = {}
        for owner_id, history in closes.items():
            history.sort(key=lambda close: close[0])
            self._instants[owner_id] = [closed_at for closed_at, _ in history]
            running, won_counts = 0, [0]
            for _, won in history:
                running += won
                won_counts.append(running)
            self._won_so_far[owner_id] = won_counts

    def before(self, owner_id: uuid.UUID | None, instant: datetime) -> tuple[int, int]:
        """(won, closed) among the owner's deals closed strictly before `instant`."""
        instants = self._instants.get(owner_id)
        if owner_id is None or not instants:
            return 0, 0
        closed = bisect.bisect_left(instants, instant)
        return self._won_so_far[owner_id][closed], closed


async def _owner_records(
    session: AsyncSession, organization_id: uuid.UUID, owner_ids: Sequence[uuid.UUID] | None = None
) -> _OwnerRecords:
    """The closes of every owner, or of the given owners only (one deal's refresh)."""
    statement = select(
        Opportunity.owner_id, Opportunity.closed_at, Opportunity.status == OpportunityStatus.won
    ).where(
        Opportunity.organization_id == organization_id,
        Opportunity.status.in_([OpportunityStatus.won, OpportunityStatus.lost]),
        Opportunity.closed_at.is_not(None),
    )
    if owner_ids is not None:
        statement = statement.where(Opportunity.owner_id.in_(owner_ids))
    return _OwnerRecords((await session.execute(statement)).all())


def _snapshot(row: Any, owners: _OwnerRecords, instant: datetime) -> DealSnapshot:
    won_before, closed_before = owners.before(row.owner_id, instant)
    return DealSnapshot(
        stage=row.stage,
        product=row.product_lines[0] if row.product_lines else None,
        source=row.source,
        industry=row.industry,
        amount=row.amount,
        days_in_stage=max(row.days_in_stage or 0.0, 0.0),
        days_in_previous_stage=row.days_in_previous_stage,
        deal_age_days=max(row.deal_age_days or 0.0, 0.0),
        activities_14d=row.activities_14d,
        activities_60d=row.activities_60d,
        days_since_effective_activity=row.days_since_effective,
        owner_won_before=won_before,
        owner_closed_before=closed_before,
    )


async def open_deal_snapshots(
    session: AsyncSession,
    organization_id: uuid.UUID,
    now: datetime,
    opportunity_ids: Sequence[uuid.UUID] | None = None,
) -> list[ScoredDeal]:
    """Open deals as of now (all of the organization's, or the given ones)."""
    at = _AsOf(
        stage_id=Opportunity.stage_id,
        entered_at=Opportunity.stage_entered_at,
        instant=literal(now, UTCDateTime()),
        amount=Opportunity.amount,
    )
    statement = _snapshot_statement(organization_id, at).where(Opportunity.status == OpportunityStatus.open)
    if opportunity_ids is not None:
        statement = statement.where(Opportunity.id.in_(opportunity_ids))
    rows = (await session.execute(statement)).all()
    owner_ids = None if opportunity_ids is None else [row.owner_id for row in rows if row.owner_id]
    owners = await _owner_records(session, organization_id, owner_ids)
    return [ScoredDeal(row.id, _snapshot(row, owners, now), row.stage_probability) for row in rows]


async def training_rows(session: AsyncSession, organization_id: uuid.UUID) -> list[LabelledSnapshot]:
    """Every closed deal as of its last stage change before the close, with its outcome apart."""
    last_open = aliased(StageStay)
    at = _AsOf(
        stage_id=last_open.stage_id,
        entered_at=last_open.entered_at,
        instant=last_open.entered_at,
        amount=last_open.amount,
    )
    through = (
        last_open,
        and_(
            last_open.organization_id == organization_id,
            last_open.opportunity_id == Opportunity.id,
            last_open.left_at == Opportunity.closed_at,
        ),
    )
    statement = (
        _snapshot_statement(organization_id, at, through)
        .add_columns(Opportunity.status.label("outcome"), Opportunity.closed_at.label("outcome_at"))
        .where(Opportunity.status.in_([OpportunityStatus.won, OpportunityStatus.lost]))
    )
    rows = (await session.execute(statement)).all()
    owners = await _owner_records(session, organization_id)
    return [
        LabelledSnapshot(
            _snapshot(row, owners, row.instant), row.outcome is OpportunityStatus.won, row.outcome_at
        )
        for row in rows
    ]


async def current_model(session: AsyncSession, organization_id: uuid.UUID) -> WinModel | None:
    return await session.scalar(
        select(WinModel)
        .where(WinModel.organization_id == organization_id)
        .order_by(WinModel.number.desc())
        .limit(1)
    )


def default_cut(rows: Sequence[LabelledSnapshot]) -> datetime:
    """The close instant that keeps the newest share of deals for the holdout."""
    closes = sorted(row.closed_at for row in rows)
    return closes[min(int(len(closes) * (1 - HOLDOUT_SHARE)), len(closes) - 1)]


def _judgeable(rows: Sequence[LabelledSnapshot], cut: datetime) -> str | None:
    """Why the rows cannot train and judge a model at this cut, or None."""
    if len(rows) < MIN_CLOSED_DEALS:
        return f"{len(rows)} closed deals; at least {MIN_CLOSED_DEALS} are needed"
    train = {row.won for row in rows if row.closed_at < cut}
    if train != {True, False}:
        return "the deals closed before the cut are not both won and lost"
    if not any(row.closed_at >= cut for row in rows):
        return "no deal closed on or after the cut"
    return None


async def train_win_model(
    session: AsyncSession, *, organization_id: uuid.UUID, now: datetime, cut_on: date | None = None
) -> WinModel | None:
    """Trains and stores a new model version, then re-scores the open deals with it; None when
    the organization is gone (a request that outlived it)."""
    zone = await session.scalar(select(Organization.timezone).where(Organization.id == organization_id))
    if zone is None:
        return None
    rows = await training_rows(session, organization_id)
    cut = datetime.combine(cut_on, time(0), ZoneInfo(zone)) if cut_on else default_cut(rows) if rows else now
    number = (
        await session.scalar(
            select(func.coalesce(func.max(WinModel.number), 0)).where(
                WinModel.organization_id == organization_id
            )
        )
        or 0
    ) + 1
    record = WinModel(
        organization_id=organization_id,
        number=number,
        trained_at=now,
        cut_at=cut,
        closed_deals=len(rows),
        metrics={},
    )
    problem = _judgeable(rows, cut)
    if problem is not None:
        record.metrics = {"reason": problem, "minimum_closed_deals": MIN_CLOSED_DEALS}
    else:
        # Fitting is CPU work of a second or two: off the event loop, so requests keep flowing.
        trained = await asyncio.to_thread(train_models, rows, cut)
        record.chosen, record.signal = trained.chosen.value, trained.signal
        record.model, record.baseline, record.metrics = trained.model, trained.baseline, trained.metrics
    session.add(record)
    await session.flush()
    await refresh_open_deals(session, organization_id=organization_id, now=now, model=record)
    return record


def automatic_probability(
    model: WinModel | None, deal: ScoredDeal
) -> tuple[float, ProbabilitySource, Prediction | None]:
    """Percent, where it comes from, and the model's prediction when there is one."""
    if model is None or model.model is None:
        return float(deal.stage_probability), ProbabilitySource.stage_default, None
    prediction = predict(model.model, features(deal.snapshot))
    return round(prediction.probability * 100, 2), ProbabilitySource.model, prediction


_STORE = (
    update(cast(Table, Opportunity.__table__))
    .where(Opportunity.__table__.c.id == bindparam("deal_id"))
    # Derived data, not an edit: version and updated_at stay, so no If-Match or sync is disturbed.
    .values(win_probability=bindparam("probability"), updated_at=Opportunity.__table__.c.updated_at)
)


async def _store(session: AsyncSession, values: dict[uuid.UUID, float]) -> None:
    if not values:
        return
    await session.execute(_STORE, [{"deal_id": key, "probability": value} for key, value in values.items()])
    for deal_id, value in values.items():
        loaded = session.identity_map.get((Opportunity, (deal_id,), None))
        if loaded is not None:
            set_committed_value(loaded, "win_probability", value)


async def refresh_open_deals(
    session: AsyncSession, *, organization_id: uuid.UUID, now: datetime, model: WinModel | None
) -> int:
    deals = await open_deal_snapshots(session, organization_id, now)
    await _store(session, {deal.opportunity_id: automatic_probability(model, deal)[0] for deal in deals})
    return len(deals)


async def refresh_deal(session: AsyncSession, opportunity: Opportunity, now: datetime) -> None:
    """After a stage change, a close or a new activity, in the same transaction."""
    model = (
        await current_model(session, opportunity.organization_id)
        if opportunity.status is OpportunityStatus.open
        else None
    )
    if model is None or model.model is None:
        stage_probability = await session.scalar(
            select(PipelineStage.probability).where(PipelineStage.id == opportunity.stage_id)
        )
        await _store(session, {opportunity.id: float(stage_probability or 0)})
        return
    deals = await open_deal_snapshots(session, opportunity.organization_id, now, [opportunity.id])
    await _store(session, {deal.opportunity_id: automatic_probability(model, deal)[0] for deal in deals})


@dataclass(frozen=True)
class WinProbability:
    opportunity: Opportunity
    probability: float
    source: ProbabilitySource
    automatic_probability: float
    automatic_source: ProbabilitySource
    prediction: Prediction | None
    model: WinModel | None
    as_of: datetime

    def factors(self) -> tuple[list[Any], list[Any]]:
        return self.prediction.factors(TOP_FACTORS) if self.prediction else ([], [])


async def explain(session: AsyncSession, opportunity: Opportunity, now: datetime) -> WinProbability:
    """The deal's probability as of now with the factors behind it; the rep's own figure, when set,
    is the answer, and the automatic one is shown beside it."""
    model = await current_model(session, opportunity.organization_id)
    deals = await open_deal_snapshots(session, opportunity.organization_id, now, [opportunity.id])
    if deals:
        automatic, source, prediction = automatic_probability(model, deals[0])
    else:
        stage = await session.get_one(PipelineStage, opportunity.stage_id)
        automatic, source, prediction = float(stage.probability), ProbabilitySource.stage_default, None
    manual = opportunity.manual_win_probability
    return WinProbability(
        opportunity=opportunity,
        probability=float(manual) if manual is not None else automatic,
        source=ProbabilitySource.manual if manual is not None else source,
        automatic_probability=automatic,
        automatic_source=source,
        prediction=prediction,
        model=model,
        as_of=now,
    )


def request_retrain(session: AsyncSession, *, actor: Principal, cut_on: date | None) -> None:
    """One retrain per organization at a time: a second request while one waits is the same job."""
    enqueue_after_commit(
        session,
        JobRequest(
            JobName.retrain_win_model,
            args=(str(actor.organization_id), cut_on.isoformat() if cut_on else None),
            job_id=f"retrain_win_model:{actor.organization_id}",
        ),
    )


async def organizations_due_for_retrain(session: AsyncSession, now: datetime) -> list[uuid.UUID]:
    """Organizations in their night (local hours 1-4) whose newest model is older than 20 hours."""
    newest = (
        select(WinModel.organization_id, func.max(WinModel.trained_at).label("trained_at"))
        .group_by(WinModel.organization_id)
        .subquery()
    )
    rows = await session.execute(
        select(Organization.id, Organization.timezone, newest.c.trained_at).outerjoin(
            newest, newest.c.organization_id == Organization.id
        )
    )
    return [
        organization_id
        for organization_id, timezone, trained_at in rows
        if now.astimezone(ZoneInfo(timezone)).hour in NIGHTLY_HOURS
        and (trained_at is None or now - trained_at >= _RETRAIN_AGE)
    ]
