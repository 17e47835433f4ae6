"""Custom fields: per-organization definitions, and validation of a record's values against them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from app.domain.platform.errors import FieldError, InvalidInput

MAX_TEXT_LENGTH = 500
# How a custom field is named beside a record's own fields (import columns, assignment conditions,
# error paths): `custom_fields.<key>`.
FIELD_PATH_PREFIX = "custom_fields."


class FieldType(StrEnum):
    text = "text"
    number = "number"
    boolean = "boolean"
    date = "date"
    choice = "choice"


@dataclass(frozen=True)
class FieldDefinition:
    key: str
    type: FieldType
    is_required: bool = False
    options: tuple[str, ...] = ()


def custom_field_key(name: str) -> str | None:
    """The key of the name `custom_fields.<key>`; None for any other name."""
    key = name.removeprefix(FIELD_PATH_PREFIX)
    return key if key and key != name else None


def _check(definition: FieldDefinition, value: Any) -> str | None:
    if definition.type is FieldType.text:
        ok = isinstance(value, str) and len(value) <= MAX_TEXT_LENGTH
        return None if ok else f"a text of at most {MAX_TEXT_LENGTH} characters"
    if definition.type is FieldType.number:
        if isinstance(value, bool):
            return "a number"
        try:
            Decimal(str(value))
        except InvalidOperation:
            return "a number"
        return None
    if definition.type is FieldType.boolean:
        return None if isinstance(value, bool) else "true or false"
    if definition.type is FieldType.date:
        try:
            date.fromisoformat(str(value))
        except ValueError:
            return "a date as YYYY-MM-DD"
        return None
    return None if value in definition.options else f"one of {', '.join(definition.options)}"


# Spreadsheet cells and web forms (a ticked HTML checkbox sends "on") are text.
_TRUE = frozenset({"true", "yes", "y", "1", "on", "是"})
_FALSE = frozenset({"false", "no", "n", "0", "off", "否"})


def from_cells(values: dict[str, Any], definitions: list[FieldDefinition]) -> dict[str, Any]:
    """Values read as text (spreadsheet cells, web-form fields): a boolean field's true/false,
    yes/no, 1/0, on/off or 是/否 become true or false; everything else is left to the validator."""
    types = {d.key: d.type for d in definitions}
    read = dict(values)
    for key, value in values.items():
        if types.get(key) is FieldType.boolean and isinstance(value, str):
            text = value.strip().casefold()
            read[key] = True if text in _TRUE else False if text in _FALSE else value
    return read


def validate_custom_fields(values: dict[str, Any], definitions: list[FieldDefinition]) -> dict[str, Any]:
    """The values if they match the definitions; otherwise InvalidInput listing every problem."""
    by_key = {d.key: d for d in definitions}
    errors = [
        FieldError(f"custom_fields.{key}", "custom_field.unknown", "no such custom field is defined")
        for key in values
        if key not in by_key
    ]
    for definition in definitions:
        value = values.get(definition.key)
        if value is None:
            if definition.is_required:
                errors.append(FieldError(f"custom_fields.{definition.key}", "missing", "required"))
            continue
        problem = _check(definition, value)
        if problem is not None:
            errors.append(
                FieldError(f"custom_fields.{definition.key}", "custom_field.invalid", f"must be {problem}")
            )
    if errors:
        raise InvalidInput("Some custom fields are not valid.", code="custom_fields.invalid", errors=errors)
    return {k: v for k, v in values.items() if v is not None}
