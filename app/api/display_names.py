"""Fills the `<reference>_name` fields of answers from their `<reference>_id` fields, for a whole
page at once (services/display_names: one query per kind of record), nested records included.

Only ids the answer already shows get a name, so a name reveals nothing the caller could not see."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from functools import cache
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.services.platform.display_names import REFERENCES, TYPED_REFERENCES, display_names

M = TypeVar("M", bound=BaseModel)


@cache
def _references(model: type[BaseModel]) -> tuple[tuple[str, str, str], ...]:
    """(reference, id field, name field) for each reference a model names: `<reference>_id` beside
    `<reference>_name`, or a list `<reference>_ids` beside `<reference>_names`."""
    fields = model.model_fields
    return tuple(
        (reference, f"{reference}{ids}", f"{reference}{names}")
        for reference in dict.fromkeys((*REFERENCES, *TYPED_REFERENCES))
        for ids, names in (("_id", "_name"), ("_ids", "_names"))
        if f"{reference}{ids}" in fields and f"{reference}{names}" in fields
    )


def _kind(record: BaseModel, reference: str) -> str:
    if reference in TYPED_REFERENCES and f"{reference}_type" in type(record).model_fields:
        return str(getattr(record, f"{reference}_type"))
    return REFERENCES[reference]


def _named_slots(
    record: BaseModel,
) -> Iterator[tuple[BaseModel, str, str, uuid.UUID | list[uuid.UUID] | None]]:
    """(record, name field, kind, id or ids) for every reference of the record and of records inside it."""
    for reference, id_field, name_field in _references(type(record)):
        yield record, name_field, _kind(record, reference), getattr(record, id_field)
    for field in type(record).model_fields:
        value = getattr(record, field)
        inner = value if isinstance(value, list | tuple) else [value]
        for item in inner:
            if isinstance(item, BaseModel):
                yield from _named_slots(item)


def _listed(ids: uuid.UUID | list[uuid.UUID] | None) -> list[uuid.UUID | None]:
    return list(ids) if isinstance(ids, list) else [ids]


async def with_names(session: AsyncSession, actor: Principal, records: Sequence[M]) -> list[M]:
    """The records with their `<reference>_name` fields filled (in place)."""
    slots = [slot for record in records for slot in _named_slots(record)]
    if slots:
        names = await display_names(
            session,
            organization_id=actor.organization_id,
            wanted=[(kind, record_id) for _, _, kind, ids in slots for record_id in _listed(ids)],
        )
        for record, name_field, kind, ids in slots:
            if isinstance(ids, list):
                setattr(record, name_field, [names.name(kind, record_id) for record_id in ids])
            else:
                setattr(record, name_field, names.name(kind, ids))
    return list(records)


async def with_name(session: AsyncSession, actor: Principal, record: M) -> M:
    return (await with_names(session, actor, [record]))[0]
