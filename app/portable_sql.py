"""SQL functions PostgreSQL and SQLite spell differently, so one Core statement runs on both.

They let a set-based job build rows inside the database (INSERT ... SELECT) instead of reading
thousands of rows into Python and writing them back: a JSON object from columns, a new UUID, a
UUID or an instant as the text Python would print for it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import JSON, Float, String, Uuid
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

_KEY = re.compile(r"^[a-z_]+$")


class json_object(FunctionElement[Any]):
    """A JSON object from `key, value` pairs; keys are fixed names, spelled into the statement."""

    type = JSON()
    inherit_cache = False

    def __init__(self, **fields: Any) -> None:
        if not all(_KEY.match(key) for key in fields):
            raise ValueError("json_object keys are lower-case names")
        self.keys = list(fields)
        super().__init__(*fields.values())


class random_uuid(FunctionElement[Any]):
    type = Uuid()
    inherit_cache = True


class uuid_text(FunctionElement[str]):
    """A UUID column as `str(uuid)` prints it (SQLite keeps 32 hex digits without dashes)."""

    type = String()
    inherit_cache = True


class instant_text(FunctionElement[str]):
    """A UTC timestamp column as `datetime.isoformat()` prints it: `2026-11-30T06:00:00+00:00`."""

    type = String()
    inherit_cache = True


class json_value(FunctionElement[Any]):
    """A JSON column as a JSON value to nest (SQLite would otherwise nest its text as a string)."""

    type = JSON()
    inherit_cache = True


def _pairs(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    values = [compiler.process(clause, **kw) for clause in element.clauses]
    return ", ".join(f"'{key}', {value}" for key, value in zip(element.keys, values, strict=True))


def _argument(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(json_object, "postgresql")
def _json_object_postgresql(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    return f"jsonb_build_object({_pairs(element, compiler, **kw)})"


@compiles(json_object, "sqlite")
def _json_object_sqlite(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_object({_pairs(element, compiler, **kw)})"


@compiles(random_uuid, "postgresql")
def _random_uuid_postgresql(element: random_uuid, compiler: SQLCompiler, **kw: Any) -> str:
    return "gen_random_uuid()"


@compiles(random_uuid, "sqlite")
def _random_uuid_sqlite(element: random_uuid, compiler: SQLCompiler, **kw: Any) -> str:
    # The shape SQLAlchemy stores a UUID in on SQLite: 32 hex digits.
    return "lower(hex(randomblob(16)))"


@compiles(uuid_text, "postgresql")
def _uuid_text_postgresql(element: uuid_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({_argument(element, compiler, **kw)} AS TEXT)"


@compiles(uuid_text, "sqlite")
def _uuid_text_sqlite(element: uuid_text, compiler: SQLCompiler, **kw: Any) -> str:
    hex_digits = _argument(element, compiler, **kw)
    parts = [
        f"substr({hex_digits}, {start}, {length})" for start, length in ((1, 8), (9, 4), (13, 4), (17, 4))
    ]
    dashed = " || '-' || ".join([*parts, f"substr({hex_digits}, 21)"])
    return f"lower({dashed})"


@compiles(instant_text, "postgresql")
def _instant_text_postgresql(element: instant_text, compiler: SQLCompiler, **kw: Any) -> str:
    # A JSON timestamp prints as isoformat does (no fraction when it is zero).
    return f"(to_jsonb({_argument(element, compiler, **kw)} AT TIME ZONE 'UTC') #>> '{{}}') || '+00:00'"


@compiles(instant_text, "sqlite")
def _instant_text_sqlite(element: instant_text, compiler: SQLCompiler, **kw: Any) -> str:
    stored = _argument(element, compiler, **kw)  # 'YYYY-MM-DD HH:MM:SS.ffffff', UTC
    return f"replace(replace({stored}, ' ', 'T'), '.000000', '') || '+00:00'"


@compiles(json_value, "postgresql")
def _json_value_postgresql(element: json_value, compiler: SQLCompiler, **kw: Any) -> str:
    return _argument(element, compiler, **kw)


@compiles(json_value, "sqlite")
def _json_value_sqlite(element: json_value, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json({_argument(element, compiler, **kw)})"


class seconds_between(FunctionElement[float]):
    """Seconds from the first instant to the second, as a float: what KPIs measure durations in."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between, "postgresql")
def _seconds_between_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"
