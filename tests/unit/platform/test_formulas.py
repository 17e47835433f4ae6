"""Which text a spreadsheet would run as a formula, what an import reports of it, and how the one CSV
writer keeps text text and numbers numbers."""

from __future__ import annotations

import csv
import io

import pytest

from app.domain.imports import import_mapping, opportunity_import
from app.domain.leads.lead_fields import LEAD_FIELDS
from app.domain.platform.formulas import FormulaCell, runs_as_formula, spreadsheet_cell
from app.services.platform.spreadsheets import write_csv


@pytest.mark.parametrize(
    ("text", "runs"),
    [
        ("=1+1", True),
        ("+86 138 0013 8000", True),
        ("@SUM(A1)", True),
        ("-2+3+cmd|' /C calc'!A0", True),
        ("\t=1+1", True),
        ("\r=1+1", True),
        ("- 暂无", True),
        ("-1e3-A1", True),
        ("-12.5", False),
        ("-12", False),
        ("-1.5E-07", False),
        ("12.5", False),
        ("-", False),
        ("---", False),
        ("申华建材", False),
        ("a=b", False),
        ("", False),
    ],
)
def test_what_a_spreadsheet_runs_as_a_formula(text: str, runs: bool) -> None:
    assert runs_as_formula(text) is runs


def test_an_exported_cell_is_text_unless_it_is_a_number() -> None:
    assert spreadsheet_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert spreadsheet_cell("+8613800138000") == "'+8613800138000"
    assert spreadsheet_cell("-12.50") == "-12.50"  # a decimal string of a numeric column stays a number
    assert spreadsheet_cell(-12.5) == -12.5
    assert spreadsheet_cell(3) == 3
    assert spreadsheet_cell(None) is None


def test_the_csv_writer_escapes_formulas_and_keeps_numbers_numeric() -> None:
    body = write_csv(
        ["name", "amount", "rate", "tags"],
        [["=cmd|' /C calc'!A0", "-1860000.00", -0.25, ["=x", "y"]], ["华东一组", "150000.00", 0.5, {}]],
    )

    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows == [
        ["name", "amount", "rate", "tags"],
        ["'=cmd|' /C calc'!A0", "-1860000.00", "-0.25", '["=x", "y"]'],
        ["华东一组", "150000.00", "0.5", "{}"],
    ]


def test_a_lead_row_reports_stored_formulas_but_not_what_it_parses() -> None:
    row = import_mapping.parse_row(
        {
            "name": FormulaCell("张伟"),
            "company": "=HYPERLINK(1)",
            "phone": "+86 138 0013 8000",
            "budget": FormulaCell(250000.0),
            "notes": "-12.5",
            "tags": "展会,@x",
            "region": FormulaCell(None),
        },
        LEAD_FIELDS,
        default_source=import_mapping.LeadSource.import_,
    )

    assert row.errors == []
    assert (row.values["name"], row.values["company"], row.values["budget"]) == (
        "张伟",
        "=HYPERLINK(1)",
        250000,
    )
    assert "region" not in row.values
    assert {(w.field, w.code) for w in row.warnings} == {
        ("name", "import.formula_result_imported"),
        ("company", "import.formula_stored_as_text"),
        ("budget", "import.formula_result_imported"),
        ("tags", "import.formula_stored_as_text"),
        ("region", "import.formula_result_imported"),
    }


def test_an_opportunity_row_reports_its_stored_formulas() -> None:
    mapping = opportunity_import.parse_mapping(
        {
            "columns": {"a": "owner", "b": "stage", "c": "customer", "d": "name", "e": "external_id"},
            "stages": {"Won": "赢单"},
        }
    )

    row, errors, warnings = opportunity_import.parse_row(
        {
            "owner": FormulaCell("王芳"),
            "stage": "Won",
            "customer": "=申华",
            "name": "@项目",
            "external_id": "X-1",
        },
        mapping,
    )

    assert errors == []
    assert row is not None
    assert (row.owner, row.name, row.external_id) == ("王芳", "@项目", "X-1")
    # The customer is a name looked up, not stored: no warning for it.
    assert {(w.field, w.code) for w in warnings} == {
        ("owner", "import.formula_result_imported"),
        ("name", "import.formula_stored_as_text"),
    }
