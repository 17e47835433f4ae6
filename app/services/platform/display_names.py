"""Display names for the ids a page shows: one query per kind of record for a whole page, never one
per row (the "names next to ids" convention: `owner_id` comes with `owner_name`)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import (
    ApiKey,
    AssignmentRule,
    Campaign,
    Contact,
    Customer,
    IntakeForm,
    Lead,
    Opportunity,
    Pipeline,
    PipelineStage,
    PlaybookEntry,
    Product,
    SlaPolicy,
    Team,
    User,
)


@dataclass(frozen=True)
class NamedKind:
    """Where a kind of record keeps the name a screen shows for it."""

    model: Any
    name: Any
    erased: Any = None  # a column set when the record's personal data was erased: its name is gone too


# Soft-deleted records are left out by every ORM SELECT (app.db.SoftDeletable), so a deleted
# reference resolves to no name, as an erased one does.
KINDS: dict[str, NamedKind] = {
    "user": NamedKind(User, User.display_name),
    "team": NamedKind(Team, Team.name),
    "customer": NamedKind(Customer, Customer.name),
    "contact": NamedKind(Contact, Contact.name, Contact.erased_at),
    "lead": NamedKind(Lead, Lead.name, Lead.erased_at),
    "opportunity": NamedKind(Opportunity, Opportunity.name),
    "pipeline": NamedKind(Pipeline, Pipeline.name),
    "stage": NamedKind(PipelineStage, PipelineStage.name),
    "product": NamedKind(Product, Product.name),
    "policy": NamedKind(SlaPolicy, SlaPolicy.name),
    "campaign": NamedKind(Campaign, Campaign.name),
    "assignment_rule": NamedKind(AssignmentRule, AssignmentRule.name),
    "playbook_entry": NamedKind(PlaybookEntry, PlaybookEntry.title),
    "api_key": NamedKind(ApiKey, ApiKey.name),
    "intake_form": NamedKind(IntakeForm, IntakeForm.name),
}

# `<reference>_id` fields and the kind of record each points at; `<reference>_name` is its name. A list
# `<reference>_ids` has its names in `<reference>_names`, in the same order.
REFERENCES: dict[str, str] = {
    "owner": "user",
    "previous_owner": "user",
    "assignee": "user",
    "created_by": "user",
    "qualified_by": "user",
    "feedback_by": "user",
    "author": "user",
    "supervisor": "user",
    "approval_decided_by": "user",
    "entered_by": "user",
    "actor": "user",
    "deleted_by": "user",
    "from_user": "user",
    "to_user": "user",
    "chosen_user": "user",
    "member": "user",
    "user": "user",
    "team": "team",
    "customer": "customer",
    "contact": "contact",
    "lead": "lead",
    "source_lead": "lead",
    "opportunity": "opportunity",
    "pipeline": "pipeline",
    "stage": "stage",
    "product": "product",
    "policy": "policy",
    "campaign": "campaign",
    "assignment_rule": "assignment_rule",
    "entry": "playbook_entry",
}

# References whose kind a record may state in `<reference>_type` (an SLA timer's subject, an audit
# event's actor: a user, an API key or an intake form); without that field the kind is REFERENCES'.
TYPED_REFERENCES = frozenset({"subject", "actor"})

NAME_DESCRIPTION = (
    "The display name of the record the id next to it points at, for screens and exports; null when "
    "the id is null or that record was deleted or its personal data erased."
)


@dataclass(frozen=True)
class DisplayNames:
    """Names found, by kind and id."""

    found: Mapping[tuple[str, uuid.UUID], str]

    def name(self, kind: str, record_id: uuid.UUID | None) -> str | None:
        return None if record_id is None else self.found.get((kind, record_id))


async def display_names(
    session: AsyncSession, *, organization_id: uuid.UUID, wanted: Iterable[tuple[str, uuid.UUID | None]]
) -> DisplayNames:
    """The names of the (kind, id) pairs wanted, within the organization: one query per kind."""
    ids_by_kind: dict[str, set[uuid.UUID]] = defaultdict(set)
    for kind, record_id in wanted:
        if record_id is not None and kind in KINDS:
            ids_by_kind[kind].add(record_id)
    found: dict[tuple[str, uuid.UUID], str] = {}
    for kind, ids in ids_by_kind.items():
        found.update(
            ((kind, record_id), name) for record_id, name in await _names(session, organization_id, kind, ids)
        )
    return DisplayNames(found)


async def _names(
    session: AsyncSession, organization_id: uuid.UUID, kind: str, ids: set[uuid.UUID]
) -> list[tuple[uuid.UUID, str]]:
    named = KINDS[kind]
    statement = select(named.model.id, named.name).where(
        named.model.organization_id == organization_id, named.model.id.in_(sorted(ids))
    )
    if named.erased is not None:
        statement = statement.where(named.erased.is_(None))
    return [(row[0], row[1]) for row in (await session.execute(statement)).all()]
