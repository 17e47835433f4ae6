"""A record's input fields declared once: what each path that writes the record (the API's create
and edit, imports, web forms, merge, the audit trail) needs to know about a field, in one row.

The paths derive their field lists from the declaration instead of spelling them again, so a field
added to the declaration reaches each of them, and tests compare it with the table and the API's
schemas (tests/unit/platform/test_input_fields.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InputField:
    name: str
    # The longest text the API takes (the column's length where it has one; for a number, the
    # longest text it may be written as). Imports cut a longer text to it.
    max_length: int | None = None
    # Stored as the writer received it; otherwise a service derives the stored value (normalised
    # contact keys, sorted tags, validated custom fields, a resolved owner or tier).
    stored_as_given: bool = True
    # An edit of it is an audit fact (before and after).
    audited: bool = True
    # The import column that fills it (a campaign is named, not given by id); None: not imported.
    import_column: str | None = ""
    # A merge survivor takes the duplicate's value when it has none.
    filled_on_merge: bool = False
    # A web form's mapping may fill it.
    from_web_forms: bool = False

    @property
    def column_in_imports(self) -> str | None:
        return self.name if self.import_column == "" else self.import_column


class InputFields:
    """The declared fields of one kind of record, in the order the API shows them."""

    def __init__(self, *fields: InputField) -> None:
        self._fields = {field.name: field for field in fields}

    def __iter__(self) -> Iterator[InputField]:
        return iter(self._fields.values())

    @property
    def audited(self) -> tuple[str, ...]:
        return tuple(field.name for field in self if field.audited)

    @property
    def stored_as_given(self) -> tuple[str, ...]:
        return tuple(field.name for field in self if field.stored_as_given)

    @property
    def filled_on_merge(self) -> tuple[str, ...]:
        return tuple(field.name for field in self if field.filled_on_merge)

    @property
    def import_columns(self) -> tuple[str, ...]:
        return tuple(field.column_in_imports for field in self if field.column_in_imports)

    @property
    def web_form_targets(self) -> dict[str, int]:
        """The fields a web form may fill, with the longest text each takes."""
        return {field.name: field.max_length or 0 for field in self if field.from_web_forms}

    def longest_text(self, column: str) -> int | None:
        """The declared length of the field an import `column` fills."""
        lengths = {field.column_in_imports: field.max_length for field in self}
        return lengths.get(column)

    def as_given(self, values: dict[str, Any]) -> dict[str, Any]:
        """The fields stored as given, from `values` by name (None for a missing one)."""
        return {name: values.get(name) for name in self.stored_as_given}
