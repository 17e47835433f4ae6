"""Customer de-duplication: an exact match (name key, uscc, phone, e-mail) is refused, a similar
name is reported, and a caller learns of a match only what they may see of it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import Contact, Customer, User
from app.domain.platform.dedup import CustomerKeys
from app.domain.platform.errors import Conflict, FieldError
from app.services.platform.similar_names import SimilarNames
from app.services.platform.visibility import visible_to

# Which key a match is reported by when several agree: the most specific first.
_KEY_ORDER = ("uscc", "name", "phone", "email")

SIMILAR_CUSTOMERS = SimilarNames(
    Customer.id, Customer.name_key, Customer.organization_id, Customer.merged_into_id.is_(None)
)


@dataclass(frozen=True)
class CustomerMatch:
    """An existing customer as the caller may see it: without code, name and id when it belongs to
    a colleague outside the caller's view, but with the owner's name, so the rep knows whom to ask."""

    matched_field: str
    is_visible: bool
    owner_name: str | None
    customer_id: uuid.UUID | None = None
    code: str | None = None
    name: str | None = None
    owner_id: uuid.UUID | None = None
    score: float | None = None


def hidden_duplicate_detail(kind: str, matched_field: str, owner_name: str | None) -> str:
    """What a caller who may not see the matched record learns: that it exists, and whose it is."""
    owner = owner_name or "nobody yet"
    return (
        f"A {kind} with the same {matched_field} exists under a colleague (owner: {owner}); ask them "
        "or your supervisor."
    )


async def duplicate_holder(
    session: AsyncSession,
    model: Any,
    record_id: uuid.UUID,
    owner_id: uuid.UUID | None,
    visible: ColumnElement[bool],
) -> tuple[bool, str | None]:
    """Whether the caller may see the record a duplicate matched (`visible`: their visibility
    filter on `model`), and its owner's name, which they learn either way."""
    is_visible = await session.scalar(select(model.id).where(model.id == record_id, visible)) is not None
    owner_name = (
        await session.scalar(select(User.display_name).where(User.id == owner_id)) if owner_id else None
    )
    return is_visible, owner_name


class DuplicateCustomer(Conflict):
    code = "customer.duplicate"

    def __init__(self, match: CustomerMatch) -> None:
        if match.is_visible:
            detail = f"The customer {match.code} {match.name} has the same {match.matched_field}."
        else:
            detail = hidden_duplicate_detail("customer", match.matched_field, match.owner_name)
        super().__init__(detail, errors=[FieldError(match.matched_field, "duplicate", detail)])
        self.extensions = {
            key: str(value)
            for key, value in (
                ("matched_field", match.matched_field),
                ("existing_id", match.customer_id),
                ("existing_code", match.code),
                ("existing_name", match.name),
                ("existing_owner_name", match.owner_name),
            )
            if value is not None
        }


def live_customers(organization_id: uuid.UUID) -> list[ColumnElement[bool]]:
    return [Customer.organization_id == organization_id, Customer.merged_into_id.is_(None)]


async def find_exact_matches(
    session: AsyncSession, organization_id: uuid.UUID, keys: CustomerKeys, *, exclude: uuid.UUID | None = None
) -> list[tuple[Customer, str]]:
    """Live customers sharing a key, each with the key it shares (the most specific)."""
    own = {"uscc": Customer.uscc, "name": Customer.name_key, "phone": Customer.phone, "email": Customer.email}
    by_contact = {"phone": Contact.phone, "email": Contact.email}
    conditions = []
    for field in _KEY_ORDER:
        value = getattr(keys, field)
        if value is None:
            continue
        conditions.append(own[field] == value)
        if field in by_contact:
            holders = select(Contact.customer_id).where(
                Contact.organization_id == organization_id, by_contact[field] == value
            )
            conditions.append(Customer.id.in_(holders))
    if not conditions:
        return []
    statement = select(Customer).where(*live_customers(organization_id), or_(*conditions))
    if exclude is not None:
        statement = statement.where(Customer.id != exclude)
    found = (await session.scalars(statement.order_by(Customer.created_at).limit(5))).all()
    return [(customer, await _matched_field(session, customer, keys)) for customer in found]


async def _matched_field(session: AsyncSession, customer: Customer, keys: CustomerKeys) -> str:
    own = {"uscc": customer.uscc, "name": customer.name_key, "phone": customer.phone, "email": customer.email}
    for field in _KEY_ORDER:
        if getattr(keys, field) is not None and own[field] == getattr(keys, field):
            return field
    # Only a contact's phone or e-mail can have matched.
    phone_holder = await session.scalar(
        select(Contact.id).where(Contact.customer_id == customer.id, Contact.phone == keys.phone).limit(1)
    )
    return "phone" if keys.phone and phone_holder is not None else "email"


async def describe(
    session: AsyncSession,
    actor: Principal,
    customer: Customer,
    matched_field: str,
    score: float | None = None,
) -> CustomerMatch:
    is_visible, owner_name = await duplicate_holder(
        session, Customer, customer.id, customer.owner_id, visible_to(actor, Customer.owner_id)
    )
    if not is_visible:
        return CustomerMatch(matched_field, False, owner_name, score=score)
    return CustomerMatch(
        matched_field,
        True,
        owner_name,
        customer_id=customer.id,
        code=customer.code,
        name=customer.name,
        owner_id=customer.owner_id,
        score=score,
    )


async def refuse_exact_duplicate(
    session: AsyncSession, actor: Principal, keys: CustomerKeys, *, exclude: uuid.UUID | None = None
) -> None:
    found = await find_exact_matches(session, actor.organization_id, keys, exclude=exclude)
    if found:
        customer, matched_field = found[0]
        raise DuplicateCustomer(await describe(session, actor, customer, matched_field))


@dataclass(frozen=True)
class DuplicateCheck:
    exact_matches: list[CustomerMatch]
    possible_duplicates: list[CustomerMatch]


async def check_duplicates(
    session: AsyncSession, *, actor: Principal, keys: CustomerKeys, threshold: float
) -> DuplicateCheck:
    """What creating a customer with these keys would meet, for a form to show before saving."""
    exact = await find_exact_matches(session, actor.organization_id, keys)
    exact_ids = {customer.id for customer, _ in exact}
    similar = [
        match
        for match in await SIMILAR_CUSTOMERS.find(
            session, actor.organization_id, keys.name, threshold=threshold
        )
        if match.key not in exact_ids
    ]
    similar_customers = {
        customer.id: customer
        for customer in (
            await session.scalars(select(Customer).where(Customer.id.in_([m.key for m in similar])))
        ).all()
    }
    return DuplicateCheck(
        exact_matches=[await describe(session, actor, customer, field) for customer, field in exact],
        possible_duplicates=[
            await describe(session, actor, similar_customers[m.key], "name", round(m.score, 1))
            for m in similar
        ],
    )
