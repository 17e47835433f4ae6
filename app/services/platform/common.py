"""Small rules shared by every use case: tenant-scoped loading and optimistic concurrency."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.platform.errors import Conflict, FieldError, InvalidInput, NotFound, PreconditionFailed
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page, SortOrder, paginate

E = TypeVar("E")


async def get_visible(
    session: AsyncSession,
    model: type[E],
    entity_id: uuid.UUID,
    *,
    actor: Principal,
    visible: ColumnElement[bool] | None = None,
    for_update: bool = False,
) -> E:
    """The record if it is in the actor's organization and visible to them, else NotFound.

    Another tenant's id and an invisible record answer the same, so ids leak nothing.
    """
    model_any: Any = model
    statement = select(model).where(
        model_any.id == entity_id, model_any.organization_id == actor.organization_id
    )
    if visible is not None:
        statement = statement.where(visible)
    if for_update:
        statement = statement.with_for_update()
    entity = await session.scalar(statement)
    if entity is None:
        raise NotFound(
            f"{model.__name__} {entity_id} was not found.", code=f"{model_any.__tablename__}.not_found"
        )
    return entity


@dataclass(frozen=True)
class OrganizationList(Generic[E]):
    """Lists one kind of the organization's own records (its channels, webhooks, rules, policies,
    forms, calendars, API keys), a page at a time in one of the `sortable` orders; call it as
    `await list_x(session, actor=..., limit=..., cursor=..., options=..., sort=...)`."""

    model: type[E]
    sortable: dict[str, Any]
    default_sort: str

    async def __call__(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        limit: int,
        cursor: str | None,
        options: ListOptions = NO_OPTIONS,
        sort: str | None = None,
    ) -> Page[E]:
        order = SortOrder.parse(sort or self.default_sort, self.sortable)
        model: Any = self.model
        return await paginate(
            session,
            select(model).where(model.organization_id == actor.organization_id),
            sort_column=self.sortable[order.name],
            id_column=model.id,
            order=order,
            limit=limit,
            cursor=cursor,
            options=options,
        )


@dataclass(frozen=True)
class UniqueName:
    """A kind of the organization's records whose names are unique within it (teams, pipelines,
    assignment rules, SLA policies); `described_as` starts the refusal's message ("A team")."""

    model: Any
    described_as: str

    async def ensure_free(
        self, session: AsyncSession, actor: Principal, name: str, *, exclude: uuid.UUID | None = None
    ) -> None:
        """409 `<table>.name_taken` when another of these records (other than `exclude`) has `name`."""
        model = self.model
        statement = select(model.id).where(model.organization_id == actor.organization_id, model.name == name)
        if exclude is not None:
            statement = statement.where(model.id != exclude)
        if await session.scalar(statement) is not None:
            raise Conflict(
                f"{self.described_as} named {name!r} exists.",
                code=f"{model.__tablename__}.name_taken",
                errors=[FieldError("name", "unique", "already in use")],
            )


def check_version(entity: Any, expected_version: int | None) -> None:
    """Honour If-Match: the client edits the version it read, or gets 412."""
    if expected_version is not None and entity.version != expected_version:
        raise PreconditionFailed(
            f"The record is at version {entity.version}, not {expected_version}; reload it and retry.",
            code="version.mismatch",
        )


async def plan_for_these_values(session: AsyncSession) -> None:
    """Plans the transaction's statements for the values they are run with, never a cached generic plan.

    Whether a search string is rare (read the trigram index, sort the few matches) or common (walk
    the list's order, filter) only shows in the value. A prepared statement switches to a generic
    plan after five runs, and that plan, blind to the value, walked the list order for rare strings
    too: 2 s on a million leads against 2 ms (bench/RESULTS.md, issue 23).
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def matches(column: Any, value: Any) -> ColumnElement[bool]:
    """A list filter's condition: equal to the value, or to any of several (a query parameter
    given more than once). One value stays an equality, which the planner matches to indexes."""
    if isinstance(value, list | tuple | set | frozenset):
        values = list(dict.fromkeys(value))
        return column == values[0] if len(values) == 1 else column.in_(values)  # type: ignore[no-any-return]
    return column == value  # type: ignore[no-any-return]


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with the wildcards in `text` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def insert_unless_conflict(session: AsyncSession, model: Any, *, returning: bool = False) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING [RETURNING the entity] for the session's dialect.

    Built once per dialect and model: pass the row as execution parameters rather than through
    `.values()`, and the statement's cache key is computed once, not on every insert.
    """
    return _insert_unless_conflict(session.get_bind().dialect.name, model, returning)


def dialect_insert(session: AsyncSession) -> Any:
    """The session dialect's INSERT construct, the one that knows ON CONFLICT."""
    return _dialect_insert(session.get_bind().dialect.name)


def _dialect_insert(dialect: str) -> Any:
    return postgresql_insert if dialect == "postgresql" else sqlite_insert


@functools.cache
def _insert_unless_conflict(dialect: str, model: Any, returning: bool) -> Any:
    insert = _dialect_insert(dialect)
    # With the row as parameters the ORM inserts in "bulk" mode, which would leave out the columns
    # whose value is None: one statement (and one prepared statement) per combination of empty
    # fields, and a column default instead of NULL. render_nulls keeps one statement that says NULL.
    statement = insert(model).on_conflict_do_nothing().execution_options(render_nulls=True)
    return statement.returning(model) if returning else statement


async def refuse_taken_id(
    session: AsyncSession, model: Any, record_id: uuid.UUID | None, *, actor: Principal, entity: str
) -> None:
    """A client may choose a new record's id (an offline app, a migration). Ids are keys across
    every organization, so an id another organization holds is refused as unusable, never as
    existing: the answer must not confirm that a record exists elsewhere."""
    if record_id is None:
        return
    holder = await session.scalar(select(model.organization_id).where(model.id == record_id))
    if holder is None:
        return
    if holder == actor.organization_id:
        raise Conflict(f"A {entity} with id {record_id} exists.", code=f"{entity}.id_taken")
    raise InvalidInput(
        "This id cannot be used; leave it out or choose another random UUID.",
        code="request.id_unusable",
        errors=[FieldError("id", "unusable", "choose another random UUID")],
    )
