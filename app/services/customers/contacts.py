"""Contacts as records of their own: read, edit and list them across customers, within the
visibility of their customers (a contact is seen by whoever sees its customer)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, case, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.customers.contacts import DECISION_CHAIN_RANK, BuyingRole
from app.domain.identity.principal import Principal
from app.domain.models import Contact, Customer
from app.domain.platform.custom_fields import validate_custom_fields
from app.domain.platform.dedup import normalise_contact
from app.domain.platform.errors import Conflict
from app.services.customers import customer_dedup
from app.services.organization.policy import policy_for
from app.services.platform import audit
from app.services.platform.common import check_version, get_visible, matches, plan_for_these_values
from app.services.platform.list_filters import ANY_TIME, Period, in_teams, text_matches, within
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page, SortOrder, paginate
from app.services.platform.visibility import visible_to

AUDITED_FIELDS = (
    "name",
    "title",
    "phone",
    "email",
    "wechat_id",
    "is_decision_maker",
    "buying_role",
    "role_note",
    "custom_fields",
)
SORTABLE: dict[str, Any] = {
    "name": Contact.name,
    "created_at": Contact.created_at,
    "updated_at": Contact.updated_at,
}


def visible_customer_ids(actor: Principal) -> Any:
    """The live customers the actor may see: their contacts are the contacts the actor may see."""
    return select(Customer.id).where(
        *customer_dedup.live_customers(actor.organization_id), visible_to(actor, Customer.owner_id)
    )


def contact_visibility(actor: Principal) -> ColumnElement[bool]:
    return Contact.customer_id.in_(visible_customer_ids(actor))


def decision_chain_key() -> Any:
    """Sorts a customer's contacts as its decision chain: role rank, then name."""
    rank = case(
        *((Contact.buying_role == role, str(index)) for role, index in DECISION_CHAIN_RANK.items() if role),
        else_=str(DECISION_CHAIN_RANK[None]),
    )
    return rank + Contact.name


def decision_chain_value(contact: Contact) -> str:
    return f"{DECISION_CHAIN_RANK[contact.buying_role]}{contact.name}"


def role_fields(
    buying_role: BuyingRole | None, is_decision_maker: bool | None, current: BuyingRole | None = None
) -> dict[str, Any]:
    """The role and the v1 flag kept in step: a role decides the flag; the flag alone (an older
    client) makes the contact a decision maker, or takes that role away."""
    if buying_role is not None or is_decision_maker is None:
        return {"buying_role": buying_role, "is_decision_maker": buying_role is BuyingRole.decision_maker}
    if is_decision_maker:
        return {"buying_role": BuyingRole.decision_maker, "is_decision_maker": True}
    role = None if current is BuyingRole.decision_maker else current
    return {"buying_role": role, "is_decision_maker": False}


async def get_contact(
    session: AsyncSession, *, actor: Principal, contact_id: uuid.UUID, for_update: bool = False
) -> Contact:
    return await get_visible(
        session, Contact, contact_id, actor=actor, visible=contact_visibility(actor), for_update=for_update
    )


async def update_contact(
    session: AsyncSession,
    *,
    actor: Principal,
    contact_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
) -> Contact:
    contact = await get_contact(session, actor=actor, contact_id=contact_id, for_update=True)
    if contact.erased_at is not None:
        raise Conflict(
            "The contact's personal data was erased; create a new contact instead.", code="contact.erased"
        )
    changes = dict(changes)
    if {"phone", "email"} & changes.keys():
        phone, email = normalise_contact(
            changes.get("phone", contact.phone), changes.get("email", contact.email)
        )
        changes.update({key: value for key, value in (("phone", phone), ("email", email)) if key in changes})
    if "buying_role" in changes:
        changes.update(role_fields(changes["buying_role"], None))
    elif "is_decision_maker" in changes:
        changes.update(role_fields(None, changes["is_decision_maker"], current=contact.buying_role))
    if "custom_fields" in changes:
        definitions = list((await policy_for(session, actor)).contact_fields)
        changes["custom_fields"] = validate_custom_fields(changes["custom_fields"], definitions)
    check_version(contact, expected_version)
    await audit.apply_edit(session, actor, contact, changes, fields=AUDITED_FIELDS, entity_type="contact")
    return contact


async def list_contacts(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    sort: str = "-created_at",
    customer_id: Sequence[uuid.UUID] | None = None,
    owner_id: Sequence[uuid.UUID] | None = None,
    team_id: Sequence[uuid.UUID] | None = None,
    buying_role: Sequence[BuyingRole] | None = None,
    q: str | None = None,
    created: Period = ANY_TIME,
    options: ListOptions = NO_OPTIONS,
) -> Page[Contact]:
    """The contacts of every customer the actor may see; `owner_id` and `team_id` are the
    customer's owner's."""
    order = SortOrder.parse(sort, SORTABLE)
    customers = visible_customer_ids(actor)
    if owner_id is not None:
        customers = customers.where(matches(Customer.owner_id, owner_id))
    if team_id is not None:
        customers = customers.where(in_teams(actor, Customer.owner_id, team_id))
    statement = select(Contact).where(
        Contact.organization_id == actor.organization_id, Contact.customer_id.in_(customers)
    )
    for column, value in ((Contact.customer_id, customer_id), (Contact.buying_role, buying_role)):
        if value is not None:
            statement = statement.where(matches(column, value))
    statement = statement.where(*within(Contact.created_at, created))
    if q:
        await plan_for_these_values(session)
        statement = statement.where(text_matches(q, [Contact.name, Contact.email], [Contact.phone]))
    return await paginate(
        session,
        statement,
        sort_column=SORTABLE[order.name],
        id_column=Contact.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )
