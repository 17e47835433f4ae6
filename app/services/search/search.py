"""The global search: leads, customers, contacts and opportunities the caller may see, ranked.

Each kind of record is searched in three passes, best first: an exact code, phone or e-mail (the
b-tree indexes), a name starting with the text, then the text anywhere (the trigram indexes on
PostgreSQL). Each pass reads at most what is still missing of `limit`, so the cost is bounded by
`limit` per kind however common the text.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.assignment.contact_masking import PoolMasking
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.models import Contact, Customer, Lead, Opportunity
from app.domain.platform.errors import PermissionDenied
from app.domain.platform.search import MatchKind, SearchType, exact_phone, phone_digits, score
from app.services.assignment.contact_masking import masking_for, unmasked
from app.services.customers.contacts import contact_visibility
from app.services.leads.leads import lead_read_visibility
from app.services.pipelines.opportunities import opportunity_visibility
from app.services.platform.common import like_pattern, plan_for_these_values
from app.services.platform.display_names import DisplayNames, display_names
from app.services.platform.visibility import visible_to

MAX_LIMIT = 50
# Who may find what: the permission that reads that kind of record.
READ_PERMISSION = {
    SearchType.lead: Permission.leads_read,
    SearchType.customer: Permission.customers_read,
    SearchType.contact: Permission.customers_read,
    SearchType.opportunity: Permission.opportunities_read,
}


@dataclass(frozen=True)
class Hit:
    type: SearchType
    id: uuid.UUID
    name: str
    subtitle: str | None
    score: float


@dataclass(frozen=True)
class _Query:
    text: str
    pattern: str
    prefix: str
    phone: str | None
    digits: str | None
    email: str | None
    # Whose pooled leads' phones the caller sees masked: those a part of a number does not find.
    masking: PoolMasking


@dataclass(frozen=True)
class _Source:
    """One kind of record as the search reads it."""

    model: Any
    visible: Callable[[Principal], ColumnElement[bool]]
    live: Callable[[], list[ColumnElement[bool]]]
    exact: Callable[[_Query], list[ColumnElement[bool]]]
    anywhere: Callable[[_Query], list[ColumnElement[bool]]]
    subtitle: Callable[[Any, DisplayNames], str | None]


def _phone_anywhere(column: Any, query: _Query) -> list[ColumnElement[bool]]:
    return [column.like(like_pattern(query.digits), escape="\\")] if query.digits else []


def _equal(column: Any, value: str | None) -> list[ColumnElement[bool]]:
    return [column == value] if value else []


_SOURCES: dict[SearchType, _Source] = {
    SearchType.customer: _Source(
        Customer,
        lambda actor: visible_to(actor, Customer.owner_id),
        lambda: [Customer.merged_into_id.is_(None)],
        lambda q: [
            Customer.code == q.text.upper(),
            *_equal(Customer.phone, q.phone),
            *_equal(Customer.email, q.email),
        ],
        lambda q: [Customer.code.ilike(q.pattern, escape="\\"), *_phone_anywhere(Customer.phone, q)],
        lambda customer, _names: customer.code,
    ),
    SearchType.lead: _Source(
        Lead,
        lead_read_visibility,
        lambda: [Lead.merged_into_id.is_(None)],
        # The de-duplication keys: unique, so indexed (an erased lead's are emptied).
        lambda q: [*_equal(Lead.phone_key, q.phone), *_equal(Lead.email_key, q.email)],
        lambda q: [
            Lead.company.ilike(q.pattern, escape="\\"),
            *(unmasked(q.masking, match) for match in _phone_anywhere(Lead.phone, q)),
        ],
        lambda lead, _names: lead.company,
    ),
    SearchType.contact: _Source(
        Contact,
        contact_visibility,
        lambda: [Contact.erased_at.is_(None)],
        lambda q: [*_equal(Contact.phone, q.phone), *_equal(Contact.email, q.email)],
        lambda q: _phone_anywhere(Contact.phone, q),
        lambda contact, names: names.name("customer", contact.customer_id),
    ),
    SearchType.opportunity: _Source(
        Opportunity,
        opportunity_visibility,
        lambda: [],
        lambda q: [],
        lambda q: [],
        lambda opportunity, names: names.name("customer", opportunity.customer_id),
    ),
}


def searchable_types(actor: Principal, requested: Sequence[SearchType] | None) -> list[SearchType]:
    """The kinds asked for (default: all) that the caller may read; 403 when none is left."""
    wanted = list(dict.fromkeys(requested or SearchType))
    allowed = [kind for kind in wanted if actor.can(READ_PERMISSION[kind])]
    if not allowed:
        raise PermissionDenied(
            "Your role may read none of the kinds of record asked for.", code="permission.denied"
        )
    return allowed


# The kinds whose subtitle is the name of the customer they belong to.
_OF_A_CUSTOMER = frozenset({SearchType.contact, SearchType.opportunity})


async def search_records(
    session: AsyncSession,
    *,
    actor: Principal,
    text: str,
    types: Sequence[SearchType] | None = None,
    limit: int = 20,
) -> list[Hit]:
    """At most `limit` hits, best first: by match kind (exact code/phone/e-mail, name prefix,
    anywhere), then by how much of the name the text covers, then by name."""
    kinds = searchable_types(actor, types)
    text = text.strip()
    await plan_for_these_values(session)
    escaped = like_pattern(text)[1:]  # "text%" with the wildcards in the text taken literally
    query = _Query(
        text=text,
        pattern=like_pattern(text),
        prefix=escaped,
        phone=exact_phone(text),
        digits=phone_digits(text),
        email=text.lower() if "@" in text else None,
        masking=await masking_for(session, actor),
    )
    found: list[tuple[SearchType, Any, MatchKind]] = []
    for kind in kinds:
        found.extend(
            (kind, record, match) for record, match in await _search_one(session, actor, kind, query, limit)
        )
    names = await display_names(
        session,
        organization_id=actor.organization_id,
        wanted=[("customer", record.customer_id) for kind, record, _match in found if kind in _OF_A_CUSTOMER],
    )
    hits = [
        Hit(
            type=kind,
            id=record.id,
            name=record.name,
            subtitle=_SOURCES[kind].subtitle(record, names),
            score=score(match, text, record.name),
        )
        for kind, record, match in found
    ]
    hits.sort(key=lambda hit: (-hit.score, hit.name, str(hit.id)))
    return hits[:limit]


async def _search_one(
    session: AsyncSession, actor: Principal, kind: SearchType, query: _Query, limit: int
) -> list[tuple[Any, MatchKind]]:
    source = _SOURCES[kind]
    model = source.model
    base = select(model).where(
        model.organization_id == actor.organization_id, source.visible(actor), *source.live()
    )
    passes: list[tuple[MatchKind, ColumnElement[bool]]] = [
        (MatchKind.exact, or_(false(), *source.exact(query))),
        (MatchKind.name_prefix, model.name.ilike(query.prefix, escape="\\")),
        (
            MatchKind.substring,
            or_(model.name.ilike(query.pattern, escape="\\"), *source.anywhere(query)),
        ),
    ]
    results: list[tuple[Any, MatchKind]] = []
    seen: set[uuid.UUID] = set()
    for match, condition in passes:
        if len(results) >= limit:
            break
        if match is MatchKind.exact and not source.exact(query):
            continue
        statement = base.where(condition)
        if seen:
            statement = statement.where(model.id.not_in(seen))
        rows = (
            await session.scalars(statement.order_by(model.name, model.id).limit(limit - len(results)))
        ).all()
        for row in rows:
            seen.add(row.id)
            results.append((row, match))
    return results
