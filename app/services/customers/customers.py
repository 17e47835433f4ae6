"""Customers: the master record with a system code, tier, owner, contacts and custom fields."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import session_now
from app.domain.activities.geo import GeoPoint
from app.domain.customers.contacts import BuyingRole
from app.domain.customers.customer_fields import CUSTOMER_FIELDS
from app.domain.customers.customer_tier import Tier, format_customer_code, tier_for_annual_purchase
from app.domain.identity.principal import Principal
from app.domain.models import Contact, Customer
from app.domain.organization.policy import OrganizationPolicy
from app.domain.platform.changes import ChangeOp
from app.domain.platform.custom_fields import validate_custom_fields
from app.domain.platform.dedup import CustomerKeys, customer_keys, normalise_contact
from app.domain.platform.errors import Conflict, FieldError, InvalidInput, NotFound
from app.services.assignment.ownership import resolve_owner
from app.services.customers import contacts, customer_dedup
from app.services.organization.policy import policy_for
from app.services.platform import audit, change_log, sequences
from app.services.platform.common import (
    check_version,
    get_visible,
    insert_unless_conflict,
    matches,
    plan_for_these_values,
    refuse_taken_id,
)
from app.services.platform.list_filters import ANY_TIME, Period, in_teams, tagged, text_matches, within
from app.services.platform.pagination import (
    EARLIEST,
    LATEST,
    NO_OPTIONS,
    ListOptions,
    MissingLast,
    Page,
    SortOrder,
    paginate,
)
from app.services.platform.visibility import visible_to
from app.services.sla import sla

AUDITED_FIELDS = CUSTOMER_FIELDS.audited
SORTABLE: dict[str, Any] = {
    "created_at": Customer.created_at,
    "updated_at": Customer.updated_at,
    "code": Customer.code,
    # Not indexed (see Customer.health_score): a sort by health reads the visible customers. A
    # customer not scored yet comes last either way: the list by health is read for whom to look
    # after (ascending: the weakest first) or whom to learn from.
    "health_score": MissingLast(Customer.health_score, lowest=-1, highest=101),
    "name": Customer.name,
    "last_follow_up_at": MissingLast(Customer.last_follow_up_at, lowest=EARLIEST, highest=LATEST),
}
CODE_SEQUENCE = "customer_code"
# A merged customer's id resolves to its survivor; a survivor merged in turn is followed this far.
MAX_ALIAS_HOPS = 10
KEY_FIELDS = ("name", "uscc", "phone", "email")


@dataclass(frozen=True)
class NewCustomer:
    name: str
    uscc: str | None = None
    phone: str | None = None
    email: str | None = None
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
    """A new customer, or DuplicateCustomer (409) when a live one has the same name key, uscc, phone
    or e-mail; a similar name is kept in `possible_duplicates`."""
    policy = await policy_for(session, actor)
    keys = customer_keys(data.name, data.uscc, data.phone, data.email)
    _check_coordinates(data.latitude, data.longitude)
    custom_fields = validate_custom_fields(data.custom_fields, list(policy.customer_fields))
    owner_id = await resolve_owner(session, actor, data.owner_id, default=actor.user_id)
    await refuse_taken_id(session, Customer, data.id, actor=actor, entity="customer")
    # Checked first for a friendly answer without spending a code; the unique index decides.
    await customer_dedup.refuse_exact_duplicate(session, actor, keys)
    similar = await customer_dedup.SIMILAR_CUSTOMERS.find(
        session, actor.organization_id, keys.name, threshold=policy.company_match_threshold
    )
    sequence = await sequences.next_value(session, organization_id=actor.organization_id, name=CODE_SEQUENCE)
    values = {
        **_customer_values(data, keys, policy),
        "id": data.id or uuid.uuid4(),
        "organization_id": actor.organization_id,
        # A Core insert is not stamped by the session's clock; sweeps, KPIs and the activity-date
        # rule compare with that clock.
        "created_at": session_now(session),
        "updated_at": session_now(session),
        "code": format_customer_code(sequence),
        "owner_id": owner_id,
        "custom_fields": custom_fields,
        "possible_duplicates": [{"customer_id": str(m.key), "score": round(m.score, 1)} for m in similar],
    }
    # ON CONFLICT DO NOTHING: a customer of the same company committed by a concurrent request
    # makes this insert return nothing, and the caller gets the same 409 as a later request.
    customer: Customer | None = await session.scalar(
        insert_unless_conflict(session, Customer, returning=True), values
    )
    if customer is None:
        await customer_dedup.refuse_exact_duplicate(session, actor, keys)
        raise Conflict("The customer conflicts with a concurrent change; retry.", code="customer.conflict")
    # An INSERT statement, not a flush: the change log's flush hook does not see it.
    await change_log.record_changes(session, Customer, actor.organization_id, [customer.id], ChangeOp.created)
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


def _customer_values(data: NewCustomer, keys: CustomerKeys, policy: OrganizationPolicy) -> dict[str, Any]:
    return {
        **{name: getattr(data, name) for name in CUSTOMER_FIELDS.stored_as_given},
        "name_key": keys.name,
        "uscc": keys.uscc,
        "phone": keys.phone,
        "email": keys.email,
        "phone_key": keys.phone,
        "email_key": keys.email,
        "tier": _tier(policy, data.annual_purchase, data.tier),
        "tags": sorted(set(data.tags)),
        "last_follow_up_at": None,
        "temperature": None,
        "temperature_at": None,
        "merged_into_id": None,
        "merged_at": None,
    }


async def get_customer(
    session: AsyncSession, *, actor: Principal, customer_id: uuid.UUID, for_update: bool = False
) -> Customer:
    """The visible customer; a merged one's id gives its survivor (the id stays an alias)."""
    # A merged customer is followed whoever owned it: what counts is whether the survivor is visible.
    visible_or_alias = or_(visible_to(actor, Customer.owner_id), Customer.merged_into_id.is_not(None))
    for _ in range(MAX_ALIAS_HOPS):
        customer = await get_visible(
            session, Customer, customer_id, actor=actor, visible=visible_or_alias, for_update=for_update
        )
        if customer.merged_into_id is None:
            return customer
        customer_id = customer.merged_into_id
    raise NotFound(f"Customer {customer_id} was not found.", code="customer.not_found")


async def survivor_of_code(session: AsyncSession, *, actor: Principal, code: str) -> uuid.UUID | None:
    """The id of the live customer a code names: its own, or its survivor's once merged."""
    found = await session.scalar(
        select(Customer.id).where(Customer.organization_id == actor.organization_id, Customer.code == code)
    )
    if found is None:
        return None
    try:
        return (await get_customer(session, actor=actor, customer_id=found)).id
    except NotFound:
        return None


async def list_customers(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    sort: str = "-created_at",
    owner_id: Sequence[uuid.UUID] | None = None,
    team_id: Sequence[uuid.UUID] | None = None,
    tier: Sequence[Tier] | None = None,
    region: str | None = None,
    industry: str | None = None,
    tags: Sequence[str] | None = None,
    q: str | None = None,
    code: str | None = None,
    ids: Sequence[uuid.UUID] | None = None,
    created: Period = ANY_TIME,
    options: ListOptions = NO_OPTIONS,
) -> Page[Customer]:
    order = SortOrder.parse(sort, SORTABLE)
    statement = select(Customer).where(
        *customer_dedup.live_customers(actor.organization_id), visible_to(actor, Customer.owner_id)
    )
    if code is not None:
        statement = statement.where(Customer.id == await survivor_of_code(session, actor=actor, code=code))
    for column, value in (
        (Customer.id, ids),
        (Customer.owner_id, owner_id),
        (Customer.tier, tier),
        (Customer.region, region),
        (Customer.industry, industry),
    ):
        if value is not None:
            statement = statement.where(matches(column, value))
    if team_id is not None:
        statement = statement.where(in_teams(actor, Customer.owner_id, team_id))
    if tags is not None:
        statement = statement.where(tagged(session, Customer.tags, tags))
    statement = statement.where(*within(Customer.created_at, created))
    if q:
        await plan_for_these_values(session)
        statement = statement.where(text_matches(q, [Customer.name, Customer.code], [Customer.phone]))
    return await paginate(
        session,
        statement,
        sort_column=SORTABLE[order.name],
        id_column=Customer.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
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
    if changed_keys := set(KEY_FIELDS) & changes.keys():
        changes = await _with_checked_keys(session, actor, customer, changes, changed_keys)
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
    taken = _KeyRace(customer.id, customer_keys(*(changes.get(f, getattr(customer, f)) for f in KEY_FIELDS)))
    # A savepoint, so that a key a concurrent request took first can be answered (409).
    savepoint = await session.begin_nested() if changed_keys else None
    for name, value in changes.items():
        setattr(customer, name, value)
    if "annual_purchase" in changes or "tier" in changes:
        customer.tier = _tier(policy, customer.annual_purchase, changes.get("tier", customer.tier))
    if savepoint is not None:
        await _flush_unless_key_taken(session, actor, savepoint, taken)
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
class _KeyRace:
    customer_id: uuid.UUID
    keys: CustomerKeys


async def _flush_unless_key_taken(
    session: AsyncSession, actor: Principal, savepoint: Any, race: _KeyRace
) -> None:
    """Another request that gave a live customer the same name key, uscc, phone or e-mail at the
    same moment commits first and the unique index refuses this change: the same 409 as if it had
    come later."""
    try:
        await session.flush()
    except IntegrityError:
        await savepoint.rollback()
        await customer_dedup.refuse_exact_duplicate(session, actor, race.keys, exclude=race.customer_id)
        raise Conflict(
            "The customer conflicts with a concurrent change; retry.", code="customer.conflict"
        ) from None
    await savepoint.commit()


async def _with_checked_keys(
    session: AsyncSession, actor: Principal, customer: Customer, changes: dict[str, Any], changed: set[str]
) -> dict[str, Any]:
    """The changes with normalised keys (and the name key), after refusing a duplicate of another
    live customer; a race between two renames is settled by the unique index (409)."""
    keys = customer_keys(
        *(changes[field] if field in changed else getattr(customer, field) for field in KEY_FIELDS)
    )
    await customer_dedup.refuse_exact_duplicate(session, actor, keys, exclude=customer.id)
    normalised = {
        **changes,
        **{field: getattr(keys, field) for field in {"uscc", "phone", "email"} & changed},
    }
    if "name" in changed:
        normalised["name_key"] = keys.name
    # The unique indexes' keys follow (a legacy "#<code>" mark ends with the change).
    for key_field in {"phone", "email"} & changed:
        normalised[f"{key_field}_key"] = getattr(keys, key_field)
    return normalised


@dataclass(frozen=True)
class NewContact:
    name: str
    title: str | None = None
    phone: str | None = None
    email: str | None = None
    wechat_id: str | None = None
    is_decision_maker: bool = False
    buying_role: BuyingRole | None = None
    role_note: str | None = None
    # What a person entered, checked against the organization's contact custom fields; None for a
    # contact the system creates (a lead's conversion), which starts with none.
    custom_fields: dict[str, Any] | None = None
    id: uuid.UUID | None = None


async def add_contact(
    session: AsyncSession, *, actor: Principal, customer_id: uuid.UUID, data: NewContact
) -> Contact:
    customer = await get_customer(session, actor=actor, customer_id=customer_id)
    await refuse_taken_id(session, Contact, data.id, actor=actor, entity="contact")
    phone, email = normalise_contact(data.phone, data.email)
    custom_fields = (
        {}
        if data.custom_fields is None
        else validate_custom_fields(
            data.custom_fields, list((await policy_for(session, actor)).contact_fields)
        )
    )
    contact = Contact(
        id=data.id or uuid.uuid4(),
        organization_id=actor.organization_id,
        customer_id=customer.id,
        name=data.name,
        title=data.title,
        phone=phone,
        email=email,
        wechat_id=data.wechat_id,
        **contacts.role_fields(data.buying_role, data.is_decision_maker),
        role_note=data.role_note,
        custom_fields=custom_fields,
    )
    session.add(contact)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="contact.created",
        entity_type="contact",
        entity_id=contact.id,
        after={"customer_id": customer.id, **audit.snapshot(contact, contacts.AUDITED_FIELDS)},
    )
    return contact


# Sorted by updated_at (ties by id), a list pages through records in the order they last changed.
_SORTABLE = {"name": Contact.name, "created_at": Contact.created_at, "updated_at": Contact.updated_at}
DECISION_CHAIN = "decision_chain"


async def list_contacts(
    session: AsyncSession,
    *,
    actor: Principal,
    customer_id: uuid.UUID,
    limit: int,
    cursor: str | None,
    options: ListOptions = NO_OPTIONS,
    sort: str = DECISION_CHAIN,
) -> Page[Contact]:
    """The customer's contacts as its decision chain: decision makers first, then influencers,
    users, gatekeepers, others and those without a role; by name within a role. Sorted by
    updated_at (ties by id) instead, they page in the order they last changed (incremental sync)."""
    customer = await get_customer(session, actor=actor, customer_id=customer_id)
    statement = select(Contact).where(
        Contact.organization_id == actor.organization_id, Contact.customer_id == customer.id
    )
    if sort == DECISION_CHAIN:
        return await paginate(
            session,
            statement,
            sort_column=contacts.decision_chain_key(),
            id_column=Contact.id,
            order=SortOrder(name=DECISION_CHAIN, descending=False),
            limit=limit,
            cursor=cursor,
            sort_value=contacts.decision_chain_value,
            options=options,
        )
    order = SortOrder.parse(sort, _SORTABLE)
    return await paginate(
        session,
        statement,
        sort_column=_SORTABLE[order.name],
        id_column=Contact.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )
