"""Spreadsheet formulas in the data we import and export (OWASP, "CSV Injection"): which text a
spreadsheet would run as a formula, how an import reports it, and how an export keeps it text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.domain.platform.errors import FieldError

# Excel, LibreOffice Calc and Google Sheets run a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A cell that is a negative number and nothing else (a spreadsheet reads it as that number), or only
# dashes (the usual "none" of a filled-in sheet): neither has room for a function, a reference or a
# second operator.
_INERT = re.compile(r"-\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|-+")

FORMULA_STORED_AS_TEXT = "import.formula_stored_as_text"
FORMULA_RESULT_IMPORTED = "import.formula_result_imported"


def runs_as_formula(text: str) -> bool:
    return text.startswith(FORMULA_STARTS) and _INERT.fullmatch(text) is None


def spreadsheet_cell(value: Any) -> Any:
    """A value as a CSV cell that a spreadsheet shows and never runs: text that would run as a
    formula gets a leading apostrophe, which makes the spreadsheet take the cell as text.

    Numbers stay numbers, a negative one included (-12.5): prefixed, it would be text that SUM and
    charts skip without a word, and a bare number can carry nothing to run.
    """
    if isinstance(value, str) and runs_as_formula(value):
        return "'" + value
    return value


@dataclass(frozen=True)
class FormulaCell:
    """A workbook cell holding a formula, with the result the spreadsheet program saved with it
    (None: it saved none, as files written by scripts often do). The formula is never evaluated."""

    result: Any


def saved_result(field: str, cell: Any, warnings: list[FieldError]) -> Any:
    """What a cell imports: itself, or a formula cell's saved result, reported as such."""
    if not isinstance(cell, FormulaCell):
        return cell
    if cell.result is None:
        message = "the cell holds a formula with no saved result: imported empty, not evaluated"
    else:
        message = f"the cell holds a formula: its saved result {_shown(cell.result)} imported, not evaluated"
    warnings.append(FieldError(field, FORMULA_RESULT_IMPORTED, message))
    return cell.result


def check_text(field: str, texts: Iterable[str], warnings: list[FieldError]) -> None:
    """Reports the first of a field's texts stored as they are (its text, or each of its tags) that a
    spreadsheet would run as a formula."""
    text = next((text for text in texts if runs_as_formula(text)), None)
    if text is not None:
        warnings.append(
            FieldError(
                field,
                FORMULA_STORED_AS_TEXT,
                f"{_shown(text)} starts like a formula: stored as text, not evaluated; CSV exports "
                "prefix it with an apostrophe",
            )
        )


def _shown(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")
