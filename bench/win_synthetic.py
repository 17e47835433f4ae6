"""A synthetic sales history with a known win process, for the win-probability acceptance test and
bench (issue 17, "a model that finds the signal that is there").

Each deal's true win probability is a logistic function of what the product can know at the
deal's engagement: its owner's skill, how many days before it the last effective call was (or that
there was none), its customer's industry and its amount band. The outcome is drawn from that
probability (the only noise). The history goes into the product the way a real one does: users and
customers through the services, the closed deals through the opportunity import (engage date,
close date, outcome, and an amount the mapping declares known before the close), the calls through
the activity service with their own instants. The product computes its own features (the owner's
record before each deal, the silence before it); because the true probabilities are known, so is
the best AUC any model could reach on the holdout.

Stage dwell is not part of the process: an import carries no stage history of a closed deal, and
recording each stage change through the services runs at a few deals a second, too slow for CI.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.activities.activities import ActivityType, CallOutcome
from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import Opportunity
from app.domain.scores.win_training import auc
from app.services.activities import activities
from app.services.customers import customers
from app.services.identity.users import NewUser, create_user
from app.services.pipelines import pipelines
from app.services.platform.jobs import JobQueue
from app.services.platform.unit_of_work import session_scope

PIPELINE = "Synthetic"
INDUSTRY_EFFECT = {"construction": 0.8, "medical": 0.4, "retail": 0.0, "energy": -0.4, "logistics": -0.8}
START = datetime(2024, 1, 1, tzinfo=UTC)
CALLED_SHARE = 0.1  # deals with an effective call before engagement; the rest had none


@dataclass(frozen=True)
class SyntheticDeal:
    external_id: str
    owner: str
    customer: str
    amount: int
    engaged_at: datetime  # midnight UTC, as the import reads the day
    closed_at: datetime
    effective_call_at: datetime | None
    true_probability: float
    won: bool


@dataclass(frozen=True)
class SyntheticHistory:
    owners: dict[str, float]  # name -> skill (log-odds)
    industries: dict[str, str]  # customer -> industry
    deals: list[SyntheticDeal]

    def cut(self, holdout_share: float = 0.3) -> date:
        """The first day of the newest `holdout_share` of closes."""
        closes = sorted(deal.closed_at for deal in self.deals)
        return closes[int(len(closes) * (1 - holdout_share))].date()


def amount_effect(amount: int) -> float:
    return 0.6 if amount < 10_000 else 0.0 if amount < 100_000 else -0.6 if amount < 1_000_000 else -1.2


def true_logit(skill: float, industry: str, amount: int, silent_days: float | None) -> float:
    silence = -0.8 if silent_days is None else 1.2 - 0.8 * math.log1p(silent_days)
    return 0.3 + skill + INDUSTRY_EFFECT[industry] + amount_effect(amount) + silence


def generate(
    deals: int, *, seed: int = 17, owners: int = 8, customers_count: int = 60, days: int = 720
) -> SyntheticHistory:
    rng = random.Random(seed)
    skills = {f"Synthetic Rep {n:02d}": rng.gauss(0.0, 0.9) for n in range(owners)}
    industries = {
        f"Synthetic Customer {n:03d}": rng.choice(list(INDUSTRY_EFFECT)) for n in range(customers_count)
    }
    history = []
    for n in range(deals):
        owner, customer = rng.choice(list(skills)), rng.choice(list(industries))
        amount = int(math.exp(rng.uniform(math.log(2_000), math.log(3_000_000))))
        engaged_at = START + timedelta(days=rng.randrange(days))
        silent_days = rng.expovariate(1 / 10) if rng.random() < CALLED_SHARE else None
        logit = true_logit(skills[owner], industries[customer], amount, silent_days)
        probability = 1 / (1 + math.exp(-logit))
        history.append(
            SyntheticDeal(
                external_id=f"SYN{n:06d}",
                owner=owner,
                customer=customer,
                amount=amount,
                engaged_at=engaged_at,
                closed_at=engaged_at + timedelta(days=rng.randrange(5, 90)),
                effective_call_at=None if silent_days is None else engaged_at - timedelta(days=silent_days),
                true_probability=probability,
                won=rng.random() < probability,
            )
        )
    return SyntheticHistory(skills, industries, history)


async def _people_and_pipeline(session: AsyncSession, actor: Principal, history: SyntheticHistory) -> None:
    for n, owner in enumerate(history.owners):
        await create_user(
            session,
            actor=actor,
            data=NewUser(username=f"synthetic{n}", display_name=owner, password="x" * 12, role=Role.rep),
        )
    for name, industry in history.industries.items():
        await customers.create_customer(
            session, actor=actor, data=customers.NewCustomer(name=name, industry=industry)
        )
    await pipelines.create_pipeline(
        session,
        actor=actor,
        name=PIPELINE,
        stages=[
            {"name": "Qualify", "kind": "open", "probability": 20},
            {"name": "Propose", "kind": "open", "probability": 50},
            {"name": "Won", "kind": "won", "probability": 100},
            {"name": "Lost", "kind": "lost", "probability": 0},
        ],
    )


def _csv(history: SyntheticHistory) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "owner", "customer", "stage", "engaged", "closed", "amount"])
    for deal in history.deals:
        writer.writerow(
            [
                deal.external_id,
                deal.owner,
                deal.customer,
                "Won" if deal.won else "Lost",
                deal.engaged_at.date().isoformat(),
                deal.closed_at.date().isoformat(),
                deal.amount,
            ]
        )
    return out.getvalue().encode()


_MAPPING = {
    "columns": {
        "id": "external_id",
        "owner": "owner",
        "customer": "customer",
        "stage": "stage",
        "engaged": "engaged_on",
        "closed": "closed_on",
        "amount": "amount",
    },
    "pipeline": PIPELINE,
    "stages": {"Won": "Won", "Lost": "Lost"},
    "date_format": "%Y-%m-%d",
    "timezone": "UTC",
    "amount_known_before_close": True,
}


async def _import_deals(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    history: SyntheticHistory,
    drain: Callable[[], Awaitable[Any]],
) -> None:
    started = await client.post(
        "/api/v1/opportunities/import",
        files={"file": ("deals.csv", _csv(history), "text/csv")},
        data={"mapping": json.dumps(_MAPPING)},
        headers=headers,
    )
    assert started.status_code == 202, started.text
    await drain()
    job = (await client.get(f"/api/v1/import-jobs/{started.json()['id']}", headers=headers)).json()
    assert (job["status"], job["created_count"]) == ("completed", len(history.deals)), job


async def _record_call(
    session: AsyncSession, actor: Principal, deal: SyntheticDeal, opportunity_id: uuid.UUID
) -> None:
    assert deal.effective_call_at is not None
    await activities.record_activity(
        session,
        actor=actor,
        data=activities.NewActivity(
            type=ActivityType.call,
            occurred_at=deal.effective_call_at,
            opportunity_id=opportunity_id,
            call_outcome=CallOutcome.connected,
        ),
        now=deal.closed_at,
    )


async def put_into_product(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: JobQueue,
    organization_id: uuid.UUID,
    history: SyntheticHistory,
    drain: Callable[[], Awaitable[Any]],
    batch: int = 500,
) -> None:
    actor = Principal.system(organization_id)
    async with session_scope(sessionmaker, queue) as session:
        await _people_and_pipeline(session, actor, history)
    # The calls are history, logged on deals imported today and up to months before their engage
    # date: an organization loading its past allows that, as this one does for a year.
    allowed = await client.patch(
        "/api/v1/organization",
        json={"settings": {"activity_entry": {"max_hours_before_record": 24 * 366}}},
        headers=headers,
    )
    assert allowed.status_code == 200, allowed.text
    await _import_deals(client, headers, history, drain)
    async with session_scope(sessionmaker, queue) as session:
        ids = dict(
            (
                await session.execute(
                    select(Opportunity.external_id, Opportunity.id).where(
                        Opportunity.organization_id == organization_id
                    )
                )
            ).all()
        )
    called = [deal for deal in history.deals if deal.effective_call_at is not None]
    for start in range(0, len(called), batch):
        async with session_scope(sessionmaker, queue) as session:
            for deal in called[start : start + batch]:
                await _record_call(session, actor, deal, ids[deal.external_id])


def holdout_optimum(history: SyntheticHistory, cut_at: datetime) -> tuple[float, int]:
    """The AUC of the true probabilities on the deals closed on or after the cut (no model can
    beat it on average), and how many deals that is."""
    holdout = [deal for deal in history.deals if deal.closed_at >= cut_at]
    area = auc([deal.true_probability for deal in holdout], [deal.won for deal in holdout])
    assert area is not None
    return area, len(holdout)
