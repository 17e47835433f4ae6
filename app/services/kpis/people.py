"""People KPIs: time to a new rep's first deal. Definitions: docs/kpis.md."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import Opportunity, OpportunityStatus, User
from app.domain.reports.kpis import KpiQuery
from app.services.kpis.scope import Facts, in_period, scoped

# A rep's own figures are the rep: visibility and filters apply to the user's id.
USER_FACTS = Facts(
    organization_id=User.organization_id, owner_id=User.id, region=None, industry=None, source=None
)


async def time_to_first_deal(
    session: AsyncSession, *, actor: Principal, query: KpiQuery
) -> list[dict[str, Any]]:
    """Reps who started in the period (their account's creation), and the days from then to the
    close of their first deal that is won now."""
    first_won = (
        select(Opportunity.owner_id, func.min(Opportunity.closed_at).label("first_won_at"))
        .where(
            Opportunity.organization_id == actor.organization_id, Opportunity.status == OpportunityStatus.won
        )
        .group_by(Opportunity.owner_id)
        .subquery("first_won")
    )
    statement = (
        select(User.id, User.display_name, User.created_at, first_won.c.first_won_at)
        .outerjoin(first_won, first_won.c.owner_id == User.id)
        .where(*scoped(actor, USER_FACTS, query), User.role == Role.rep, in_period(User.created_at, query))
        .order_by(User.created_at, User.id)
    )
    return [
        {
            "user": {"id": str(row.id), "name": row.display_name},
            "started_at": row.created_at,
            "first_won_at": row.first_won_at,
            "days_to_first_deal": round((row.first_won_at - row.created_at).total_seconds() / 86400, 2)
            if row.first_won_at is not None
            else None,
        }
        for row in await session.execute(statement)
    ]
