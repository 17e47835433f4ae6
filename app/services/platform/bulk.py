"""Writes of thousands of rows in one statement, for jobs that sweep many records at once.

On PostgreSQL the rows travel as one array per column and `unnest` turns them back into rows: one
statement, one round trip, one plan, where an executemany is a statement per row. On SQLite,
in-process and local, the executemany is cheap and is what runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, insert, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession


def table_of(model: Any) -> Table:
    """The Table behind a mapped class, as these functions take it."""
    return cast(Table, model.__table__)


def _arrays(
    table: Table, rows: Sequence[Mapping[str, Any]], dialect: Dialect
) -> tuple[list[str], dict[str, Any]]:
    """`CAST(:col AS type[])` for each column, and each column's values as the database takes them."""
    casts: list[str] = []
    params: dict[str, Any] = {}
    for name in rows[0]:
        column = table.c[name]
        process = column.type.bind_processor(dialect)
        values = [row[name] for row in rows]
        params[name] = [process(v) for v in values] if process else values
        casts.append(f"CAST(:{name} AS {column.type.compile(dialect=dialect)}[])")
    return casts, params


def _with_defaults(table: Table, rows: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """The rows with the columns' Python-side defaults filled in, as an ORM insert would."""
    defaults: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.name in rows[0] or default is None or not hasattr(default, "arg"):
            continue
        defaults[column.name] = default
    if not defaults:
        return rows
    return [
        {
            **row,
            **{
                name: default.arg(None) if default.is_callable else default.arg
                for name, default in defaults.items()
            },
        }
        for row in rows
    ]


def _is_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def insert_rows(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: Sequence[ColumnElement[Any]] = (),
    skip_conflicts: bool = False,
) -> Sequence[Any]:
    """INSERTs `rows` (all with the same keys); with `skip_conflicts`, rows that hit a unique key
    are left out, and `returning` gives back the rows actually inserted."""
    if not rows:
        return []
    if not _is_postgresql(session):
        statement = sqlite_insert(table).on_conflict_do_nothing() if skip_conflicts else insert(table)
        if returning:
            return (await session.execute(statement.returning(*returning), list(rows))).all()
        await session.execute(statement, list(rows))
        return []
    dialect = session.get_bind().dialect
    rows = _with_defaults(table, rows)
    casts, params = _arrays(table, rows, dialect)
    # Only quoted identifiers and casts are spliced in; every value is a bound parameter.
    quote = dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in rows[0])
    sql = f"INSERT INTO {quote(table.name)} ({columns}) SELECT * FROM unnest({', '.join(casts)})"  # noqa: S608
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if not returning:
        await session.execute(text(sql), params)
        return []
    sql += f" RETURNING {', '.join(quote(c.name) for c in returning)}"
    return (await session.execute(text(sql).columns(*returning), params)).all()


async def update_rows(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str,
    same_for_all: Mapping[str, Any],
    derived: bool = False,
) -> None:
    """UPDATEs each row identified by `rows[i][key]` with its own values, plus `same_for_all`, and
    counts up `version`; with `derived` (values computed from others, which no client edits)
    `version` and `updated_at` stay as they are."""
    if not rows:
        return
    if not _is_postgresql(session):
        own: dict[str, Any] = {name: bindparam(f"new_{name}") for name in rows[0] if name != key}
        # `updated_at` set to itself: else its column's onupdate would move it.
        versioned = {"updated_at": table.c.updated_at} if derived else {"version": table.c.version + 1}
        statement = (
            update(table)
            .where(table.c[key] == bindparam(f"new_{key}"))
            .values(**own, **same_for_all, **versioned)
        )
        await session.execute(statement, [{f"new_{k}": v for k, v in row.items()} for row in rows])
        return
    dialect = session.get_bind().dialect
    casts, params = _arrays(table, rows, dialect)
    quote = dialect.identifier_preparer.quote
    target = quote(table.name)
    names = [quote(name) for name in rows[0]]
    assignments = [f"{name} = v.{name}" for name in names if name != quote(key)]
    assignments += [f"{quote(name)} = :same_{name}" for name in same_for_all]
    for name, value in same_for_all.items():
        process = table.c[name].type.bind_processor(dialect)
        params[f"same_{name}"] = process(value) if process else value
    if not derived:
        assignments.append(f"version = {target}.version + 1")
    sets = ", ".join(assignments)
    source = f"unnest({', '.join(casts)}) AS v({', '.join(names)})"
    join = f"{target}.{quote(key)} = v.{quote(key)}"
    sql = f"UPDATE {target} SET {sets} FROM {source} WHERE {join}"  # noqa: S608
    await session.execute(text(sql), params)


async def update_rows_if_unchanged(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str,
    guard: str,
    same_for_all: Mapping[str, Any],
) -> set[Any]:
    """Derived values (no `version` or `updated_at` moved) written as update_rows does, but only to
    the rows whose column `guard` still holds what the caller read (`rows[i]["expected"]`): a
    compare-and-set, so a row another transaction wrote meanwhile keeps its newer values. Returns the
    keys of the rows written."""
    if not rows:
        return set()
    column = table.c[guard]
    if not _is_postgresql(session):
        written: set[Any] = set()
        for row in rows:
            own = {name: value for name, value in row.items() if name not in (key, "expected")}
            statement = (
                update(table)
                .where(table.c[key] == row[key], column.is_not_distinct_from(row["expected"]))
                .values(**own, **same_for_all, updated_at=table.c.updated_at)
                .returning(table.c[key])
            )
            written.update((await session.scalars(statement)).all())
        return written
    dialect = session.get_bind().dialect
    values = [{name: value for name, value in row.items() if name != "expected"} for row in rows]
    casts, params = _arrays(table, values, dialect)
    process = column.type.bind_processor(dialect)
    expected = [row["expected"] for row in rows]
    params["expected"] = [process(v) for v in expected] if process else expected
    casts.append(f"CAST(:expected AS {column.type.compile(dialect=dialect)}[])")
    quote = dialect.identifier_preparer.quote
    target = quote(table.name)
    names = [quote(name) for name in values[0]]
    assignments = [f"{name} = v.{name}" for name in names if name != quote(key)]
    assignments += [f"{quote(name)} = :same_{name}" for name in same_for_all]
    for name, value in same_for_all.items():
        bind = table.c[name].type.bind_processor(dialect)
        params[f"same_{name}"] = bind(value) if bind else value
    source = f"unnest({', '.join(casts)}) AS v({', '.join(names)}, expected)"
    sql = (
        f"UPDATE {target} SET {', '.join(assignments)} FROM {source} "  # noqa: S608
        f"WHERE {target}.{quote(key)} = v.{quote(key)} "
        f"AND {target}.{quote(guard)} IS NOT DISTINCT FROM v.expected "
        f"RETURNING {target}.{quote(key)}"
    )
    return set((await session.scalars(text(sql).columns(table.c[key]), params)).all())


async def upsert_rows(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    index_elements: Sequence[str],
    newer_by: str,
) -> None:
    """INSERTs `rows` (all with the same keys); a row whose `index_elements` exist already replaces
    the stored one's other columns only if its `newer_by` column is not older, so of two writers the
    later one's values stand whatever order they arrive in."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    replaced = [name for name in rows[0] if name not in index_elements and name != "id"]
    quote = dialect.identifier_preparer.quote
    if not _is_postgresql(session):
        statement = sqlite_insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=list(index_elements),
            set_={name: statement.excluded[name] for name in replaced},
            where=table.c[newer_by] <= statement.excluded[newer_by],
        )
        await session.execute(statement, list(_with_defaults(table, rows)))
        return
    rows = _with_defaults(table, rows)
    casts, params = _arrays(table, rows, dialect)
    target = quote(table.name)
    columns = ", ".join(quote(name) for name in rows[0])
    sets = ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in replaced)
    sql = (
        f"INSERT INTO {target} ({columns}) SELECT * FROM unnest({', '.join(casts)}) "  # noqa: S608
        f"ON CONFLICT ({', '.join(quote(name) for name in index_elements)}) DO UPDATE SET {sets} "
        f"WHERE {target}.{quote(newer_by)} <= excluded.{quote(newer_by)}"
    )
    await session.execute(text(sql), params)
