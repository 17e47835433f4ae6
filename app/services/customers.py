"""Customers: the master record with a system code, tier, owner, contacts and custom fields."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import session_now
from app.domain.custom_fields import validate_custom_fields
from app.domain.customer_tier import Tier, format_customer_code, tier_for_annual_purchase
from app.domain.dedup import normalise_company, normalise_contact
from app.domain.errors import FieldError, InvalidInput
from app.domain.geo import GeoPoint
from app.domain.models import Contact, Customer
from app.domain.policy import OrganizationPolicy
from app.domain.principal import Principal
from app.services import audit, sequences, sla
from app.services.common import (
    check_version,
    get_visible,
    like_pattern,
    matches,
    plan_for_these_values,
    refuse_taken_id,
)
from app.services.ownership import resolve_owner
from app.services.pagination import Page, SortOrder, paginate
from app.services.policy import policy_for
from app.services.visibility import visible_to

AUDITED_FIELDS = (
    "name",
    "industry",
    "region",
    "address",
    "latitude",
    "longitude",
    "annual_purchase",
    "tier",
    "owner_id",
    "tags",
    "custom_fields",
)
SORTABLE = {"created_at": Customer.created_at, "updated_at": Customer.updated_at, "code": Customer.code}
CODE_SEQUENCE = "customer_code"


@dataclass(frozen=True)
class NewCustomer:
    name: str
    industry: str | None = None
    region: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    annual_purchase: Decimal | None = None
    tier: Tier | None = None
    owner_id: uuid.UUID | None = None
    tags: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    id: uuid.UUID | None = None


def _tier(policy: OrganizationPolicy, annual_purchase: Decimal | None, requested: Tier | None) -> Tier:
    """Annual purchase decides the tier when it is known; otherwise the tier given, else C."""
    if annual_purchase is not None:
        return tier_for_annual_purchase(annual_purchase, policy.tier_thresholds)
    return requested or Tier.C


def _check_coordinates(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        raise InvalidInput(
            "Give both latitude and longitude, or neither.",
            code="customer.coordinates_incomplete",
            errors=[FieldError("latitude", "pair", "latitude and longitude go together")],
        )
    if latitude is not None and longitude is not None:
        GeoPoint(latitude, longitude)


async def create_customer(session: AsyncSession, *, actor: Principal, data: NewCustomer) -> Customer:
    policy = await policy_for(session, actor)
    _check_coordinates(data.latitude, data.longitude)
    custom_fields = validate_custom_fields(data.custom_fields, list(policy.customer_fields))
    owner_id = await resolve_owner(session, actor, data.owner_id, default=actor.user_id)
    await refuse_taken_id(session, Customer, data.id, actor=actor, entity="customer")
    sequence = await sequences.next_value(session, organization_id=actor.organization_id, name=CODE_SEQUENCE)
    customer = Customer(
        id=data.id or uuid.uuid4(),
        organization_id=actor.organization_id,
        code=format_customer_code(sequence),
        name=data.name,
        name_key=normalise_company(data.name),
        industry=data.industry,
        region=data.region,
        address=data.address,
        latitude=data.latitude,
        longitude=data.longitude,
        annual_purchase=data.annual_purchase,
        tier=_tier(policy, data.annual_purchase, data.tier),
        owner_id=owner_id,
        tags=sorted(set(data.tags)),
        custom_fields=custom_fields,
    )
    session.add(customer)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="customer.created",
        entity_type="customer",
        entity_id=customer.id,
        after=audit.snapshot(customer, ("code", *AUDITED_FIELDS)),
    )
    await sla.start_follow_up(session, customer, session_now(session))
    return customer


async def get_customer(
    session: AsyncSession, *, actor: Principal, customer_id: uuid.UUID, for_update: bool = False
) -> Customer:
    return await get_visible(
        session,
        Customer,
        customer_id,
        actor=actor,
        visible=visible_to(actor, Customer.owner_id),
        for_update=for_update,
    )


async def list_customers(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    sort: str = "-created_at",
    owner_id: uuid.UUID | None = None,
    tier: Sequence[Tier] | None = None,
    region: str | None = None,
    industry: str | None = None,
    q: str | None = None,
    updated_since: datetime | None = None,
) -> Page[Customer]:
    order = SortOrder.parse(sort, SORTABLE)
    statement = select(Customer).where(
        Customer.organization_id == actor.organization_id, visible_to(actor, Customer.owner_id)
    )
    for column, value in (
        (Customer.owner_id, owner_id),
        (Customer.tier, tier),
        (Customer.region, region),
        (Customer.industry, industry),
    ):
        if value is not None:
            statement = statement.where(matches(column, value))
    if updated_since is not None:
        statement = statement.where(Customer.updated_at >= updated_since)
    if q:
        await plan_for_these_values(session)
        pattern = like_pattern(q)
        statement = statement.where(
            Customer.name.ilike(pattern, escape="\\") | Customer.code.ilike(pattern, escape="\\")
        )
    return await paginate(
        session,
        statement,
        sort_column=SORTABLE[order.name],
        id_column=Customer.id,
        order=order,
        limit=limit,
        cursor=cursor,
    )


async def update_customer(
    session: AsyncSession,
    *,
    actor: Principal,
    customer_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
) -> Customer:
    customer = await get_customer(session, actor=actor, customer_id=customer_id, for_update=True)
    policy = await policy_for(session, actor)
    if "owner_id" in changes:
        changes["owner_id"] = await resolve_owner(session, actor, changes["owner_id"], default=None)
    if "custom_fields" in changes:
        changes["custom_fields"] = validate_custom_fields(
            changes["custom_fields"], list(policy.customer_fields)
        )
    if "tags" in changes:
        changes["tags"] = sorted(set(changes["tags"]))
    _check_coordinates(
        changes.get("latitude", customer.latitude), changes.get("longitude", customer.longitude)
    )
    check_version(customer, expected_version)
    before = audit.snapshot(customer, AUDITED_FIELDS)
    for name, value in changes.items():
        setattr(customer, name, value)
    if "name" in changes:
        customer.name_key = normalise_company(customer.name)
    if "annual_purchase" in changes or "tier" in changes:
        customer.tier = _tier(policy, customer.annual_purchase, changes.get("tier", customer.tier))
    await session.flush()
    old, new = audit.changed_fields(before, audit.snapshot(customer, AUDITED_FIELDS))
    if new:
        action = "customer.owner_changed" if set(new) == {"owner_id"} else "customer.updated"
        await audit.record_audit(
            session,
            actor=actor,
            action=action,
            entity_type="customer",
            entity_id=customer.id,
            before=old,
            after=new,
        )
    return customer


@dataclass(frozen=True)
class NewContact:
    name: str
    title: str | None = None
    phone: str | None = None
    email: str | None = None
    wechat_id: str | None = None
    is_decision_maker: bool = False
    id: uuid.UUID | None = None


async def add_contact(
    session: AsyncSession, *, actor: Principal, customer_id: uuid.UUID, data: NewContact
) -> Contact:
    customer = await get_customer(session, actor=actor, customer_id=customer_id)
    await refuse_taken_id(session, Contact, data.id, actor=actor, entity="contact")
    phone, email = normalise_contact(data.phone, data.email)
    contact = Contact(
        id=data.id or uuid.uuid4(),
        organization_id=actor.organization_id,
        customer_id=customer.id,
        name=data.name,
        title=data.title,
        phone=phone,
        email=email,
        wechat_id=data.wechat_id,
        is_decision_maker=data.is_decision_maker,
    )
    session.add(contact)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="contact.created",
        entity_type="contact",
        entity_id=contact.id,
        after={"customer_id": customer.id, **audit.snapshot(contact, ("name", "title", "phone", "email"))},
    )
    return contact


async def list_contacts(
    session: AsyncSession, *, actor: Principal, customer_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[Contact]:
    customer = await get_customer(session, actor=actor, customer_id=customer_id)
    return await paginate(
        session,
        select(Contact).where(
            Contact.organization_id == actor.organization_id, Contact.customer_id == customer.id
        ),
        sort_column=Contact.created_at,
        id_column=Contact.id,
        order=SortOrder(name="created_at", descending=False),
        limit=limit,
        cursor=cursor,
    )
