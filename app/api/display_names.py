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

from app.domain.principal import Principal
from app.services.display_names import REFERENCES, TYPED_REFERENCES, display_names

M = TypeVar("M", bound=BaseModel)


@cache
def _references(model: type[BaseModel]) -> tuple[str, ...]:
    """The references a model names: those with both `<reference>_id` and `<reference>_name`."""
    fields = model.model_fields
    return tuple(
        reference
        for reference in (*REFERENCES, *TYPED_REFERENCES)
        if f"{reference}_id" in fields and f"{reference}_name" in fields
    )


def _kind(record: BaseModel, reference: str) -> str:
    if reference in TYPED_REFERENCES:
        return str(getattr(record, f"{reference}_type"))
    return REFERENCES[reference]


def _named_slots(record: BaseModel) -> Iterator[tuple[BaseModel, str, str, uuid.UUID | None]]:
    """(record, reference, kind, id) for every reference of the record and of records inside it."""
    for reference in _references(type(record)):
        yield record, reference, _kind(record, reference), getattr(record, f"{reference}_id")
    for field in type(record).model_fields:
        value = getattr(record, field)
        inner = value if isinstance(value, list | tuple) else [value]
        for item in inner:
            if isinstance(item, BaseModel):
                yield from _named_slots(item)


async def with_names(session: AsyncSession, actor: Principal, records: Sequence[M]) -> list[M]:
    """The records with their `<reference>_name` fields filled (in place)."""
    slots = [slot for record in records for slot in _named_slots(record)]
    if slots:
        names = await display_names(
            session,
            organization_id=actor.organization_id,
            wanted=[(kind, record_id) for _, _, kind, record_id in slots],
        )
        for record, reference, kind, record_id in slots:
            setattr(record, f"{reference}_name", names.name(kind, record_id))
    return list(records)


async def with_name(session: AsyncSession, actor: Principal, record: M) -> M:
    return (await with_names(session, actor, [record]))[0]
