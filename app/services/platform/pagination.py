"""Keyset (cursor) pagination: stable under concurrent inserts, no OFFSET scans."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.domain.platform.errors import FieldError, InvalidInput

T = TypeVar("T")
MAX_LIMIT = 200
# A cursor is unpadded base64url text; which of those a list accepts only its own next_cursor tells.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"


# include=total counts at most this many rows: past it the count says "more than 10,000"
# (`total_capped`), so asking for a total never costs more than reading 10,001 index entries.
TOTAL_CAP = 10_000


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    # Only with ListOptions.include_total: the rows the list holds (all pages), at most TOTAL_CAP.
    total: int | None = None
    total_capped: bool | None = None


@dataclass(frozen=True)
class ListOptions:
    """What every list takes besides its own filters: `updated_since` (records whose updated_at
    is at or after it, for incremental sync) and `include_total` (a capped count)."""

    updated_since: datetime | None = None
    include_total: bool = False
    # An export job counts the whole list it is about to write, up to its own row limit; else
    # TOTAL_CAP.
    total_cap: int | None = None


NO_OPTIONS = ListOptions()


@dataclass(frozen=True)
class SortOrder:
    name: str
    descending: bool

    @classmethod
    def parse(cls, value: str, allowed: dict[str, Any]) -> SortOrder:
        name = value.removeprefix("-")
        if name not in allowed:
            raise InvalidInput(
                f"Cannot sort by {name!r}.",
                errors=[FieldError("sort", "sort.unknown", f"allowed: {', '.join(sorted(allowed))}")],
            )
        return cls(name=name, descending=value.startswith("-"))


# Stand-ins below and above every instant, day and amount a sort column holds (MissingLast).
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
# The amounts are the largest a NUMERIC(18, 2) column holds, beyond the 12 digits the contract takes.
LOWEST_AMOUNT = Decimal("-9999999999999999.99")
HIGHEST_AMOUNT = Decimal("9999999999999999.99")


@dataclass(frozen=True)
class MissingLast:
    """A sort column that may be empty, with a stand-in below and above every value it holds: the
    rows without a value come last in either direction (an opportunity without an amount is neither
    the biggest nor the smallest). The key is an expression, not the column, so no index serves it:
    the sort reads the visible rows."""

    column: InstrumentedAttribute[Any]
    lowest: Any
    highest: Any

    def key(self, order: SortOrder) -> tuple[Any, Callable[[Any], Any]]:
        """(sort expression, the function giving a row's value for the cursor) for `paginate`."""
        stand_in = self.lowest if order.descending else self.highest
        name = self.column.key

        def sort_value(row: Any) -> Any:
            value = getattr(row, name)
            return stand_in if value is None else value

        return func.coalesce(self.column, literal(stand_in, self.column.type)), sort_value


def encode_cursor(order: SortOrder, value: Any, row_id: uuid.UUID) -> str:
    if isinstance(value, datetime):
        encoded: Any = {"dt": value.isoformat()}
    elif isinstance(value, date):
        encoded = {"d": value.isoformat()}
    elif isinstance(value, Decimal):
        encoded = {"n": str(value)}
    else:
        encoded = value
    raw = json.dumps([order.name, order.descending, encoded, str(row_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def invalid_cursor() -> InvalidInput:
    return InvalidInput(
        "The cursor is not valid for this list and sort order.",
        code="request.cursor_invalid",
        errors=[FieldError("cursor", "cursor.invalid", "use next_cursor from the previous page unchanged")],
    )


def decode_cursor(cursor: str, order: SortOrder) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, descending, value, row_id = json.loads(raw)
        if isinstance(value, dict) and "d" in value:
            value = date.fromisoformat(value["d"])
        elif isinstance(value, dict) and "n" in value:
            value = Decimal(value["n"])
            if not value.is_finite():
                raise ValueError("not a number")
        elif isinstance(value, dict):
            value = datetime.fromisoformat(value["dt"])
            # Cursors carry UTC instants; a hand-made naive one would fail in the database layer.
            if value.tzinfo is None:
                raise ValueError("naive instant")
        parsed_id = uuid.UUID(row_id)
    except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
        raise invalid_cursor() from exc
    if name != order.name or descending != order.descending:
        raise invalid_cursor()
    return value, parsed_id


def changed_at_of(model: Any) -> Any:
    """The column `updated_since` reads: updated_at, or for an append-only record (audit event,
    notification, delivery) the instant it was written, which is when it last changed."""
    for name in ("updated_at", "created_at", "occurred_at"):
        column = getattr(model, name, None)
        if column is not None:
            return column
    raise TypeError(f"{model.__name__} has no timestamp for updated_since")


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    *,
    sort_column: Any,
    id_column: InstrumentedAttribute[Any],
    order: SortOrder,
    limit: int,
    cursor: str | None,
    sort_value: Callable[[Any], Any] | None = None,
    options: ListOptions = NO_OPTIONS,
) -> Page[Any]:
    """`statement` selects one entity; rows are ordered by (sort column, id) so ties never reorder.
    A sort column that is an expression (not a mapped attribute) comes with `sort_value`, which
    computes its value from a row, for the next page's cursor; a MissingLast brings its own."""
    if isinstance(sort_column, MissingLast):
        sort_column, sort_value = sort_column.key(order)
    if options.updated_since is not None:
        statement = statement.where(changed_at_of(id_column.class_) >= options.updated_since)
    total, capped = (
        (await count_capped(session, statement, cap=options.total_cap or TOTAL_CAP))
        if options.include_total
        else (None, None)
    )
    key = tuple_(sort_column, id_column)
    if cursor is not None:
        value, row_id = decode_cursor(cursor, order)
        statement = statement.where(
            key < tuple_(value, row_id) if order.descending else key > (value, row_id)
        )
    if order.descending:
        statement = statement.order_by(sort_column.desc(), id_column.desc())
    else:
        statement = statement.order_by(sort_column.asc(), id_column.asc())
    rows = list((await session.scalars(statement.limit(limit + 1))).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        value = sort_value(last) if sort_value else getattr(last, sort_column.key)
        next_cursor = encode_cursor(order, value, last.id)
    return Page(items=rows, next_cursor=next_cursor, total=total, total_capped=capped)


async def count_capped(
    session: AsyncSession, statement: Select[Any], *, cap: int = TOTAL_CAP
) -> tuple[int, bool]:
    """The rows `statement` selects, counted up to `cap`: SELECT count(*) FROM (... LIMIT cap + 1),
    so the cost is bounded whatever the list holds."""
    limited = statement.order_by(None).limit(cap + 1).subquery()
    found = int(await session.scalar(select(func.count()).select_from(limited)) or 0)
    return min(found, cap), found > cap
