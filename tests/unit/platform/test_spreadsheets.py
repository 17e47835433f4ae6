"""Reading an import file keeps the process's memory flat whatever a crafted XLSX expands to."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from app.domain.platform.errors import InvalidInput
from app.domain.platform.formulas import FormulaCell
from app.services.platform import spreadsheets
from tests.workbooks import BOMBS, SHEET, huge_cell, with_parts, with_sheet

# Measured in a process of its own: ru_maxrss is the peak of the whole process, so the pytest
# process's history would hide the growth. The address-space cap stops an unbounded reader at about
# a gigabyte instead of letting it take the shared machine's memory.
_READ_IN_A_FRESH_PROCESS = """
import json, resource, sys
from pathlib import Path
from app.services.platform import spreadsheets
from app.domain.platform.errors import InvalidInput
from app.domain.platform.formulas import FormulaCell

def vm_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

resource.setrlimit(resource.RLIMIT_AS, ((vm_kb("VmSize:") + 1024 * 1024) * 1024,) * 2)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
error = None
try:
    total, rows = spreadsheets.read_rows(Path(sys.argv[1]), "bomb.xlsx", max_rows=100_000)
    for _ in rows:
        pass
except InvalidInput as invalid:
    error = invalid.detail
growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"growth_mb": growth_kb / 1024, "error": error}))
"""
MAX_GROWTH_MB = 32


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_a_crafted_workbook_is_refused_without_the_memory_it_asks_for(bomb: str, tmp_path: Path) -> None:
    build, message = BOMBS[bomb]
    path = build(tmp_path / f"{bomb}.xlsx")
    assert path.stat().st_size < 1024 * 1024
    finished = subprocess.run(
        [sys.executable, "-c", _READ_IN_A_FRESH_PROCESS, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=Path(__file__).parents[3],
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    result = json.loads(finished.stdout)
    assert message in (result["error"] or ""), result
    assert result["growth_mb"] < MAX_GROWTH_MB, result


def _patched_sheet_size(path: Path, declared: int) -> bytes:
    """The file with the worksheet's declared size replaced in its local and central headers."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(SHEET)
    struct.pack_into("<I", data, info.header_offset + 22, declared)
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_length] == SHEET.encode():
            struct.pack_into("<I", data, central + 24, declared)
        central = data.find(b"PK\x01\x02", central + 4)
    return bytes(data)


def test_a_part_that_lies_about_its_size_is_refused_not_inflated(tmp_path: Path) -> None:
    honest = huge_cell(tmp_path / "honest.xlsx", megabytes=1)
    lying = tmp_path / "lying.xlsx"
    lying.write_bytes(_patched_sheet_size(honest, 100))
    with pytest.raises(InvalidInput, match="cannot be read") as refused:
        spreadsheets.check_workbook(lying, max_rows=100)
    assert refused.value.code == "import.file_unreadable"


def test_markup_that_could_hide_a_cell_boundary_is_refused(tmp_path: Path) -> None:
    sheet = (
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>a<!-- <c r="B1"> -->b</t></is></c></row>'
        b"</sheetData></worksheet>"
    )
    path = with_sheet(tmp_path / "comment.xlsx", sheet)
    with pytest.raises(InvalidInput, match="comment, CDATA"):
        spreadsheets.check_workbook(path, max_rows=100)


def test_a_csv_field_past_the_readers_limit_is_refused_as_too_large(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("name,notes\n王工," + "备" * 200_000 + "\n", encoding="utf-8")

    with pytest.raises(InvalidInput) as refused:
        spreadsheets.read_rows(path, "leads.csv", max_rows=100_000)

    assert refused.value.code == "import.file_too_large"
    assert "128" in refused.value.detail


_MAIN = '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'


def _rows(path: Path) -> list[list[object]]:
    return list(spreadsheets.read_rows(path, path.name, max_rows=100)[1])


def test_formula_cells_of_the_data_rows_come_with_their_saved_result(tmp_path: Path) -> None:
    # From column B, as calamine yields cells from the first filled column; a shared formula's
    # later cells name only their group; a formula in the header is only a header.
    sheet = (
        _MAIN + '<row r="1"><c r="B1" t="str"><f>"na"&amp;"me"</f><v>name</v></c>'
        '<c r="C1" t="inlineStr"><is><t>budget</t></is></c></row>'
        '<row r="2"><c r="B2" t="inlineStr"><is><t>张伟</t></is></c>'
        '<c r="C2"><f t="shared" ref="C2:C3" si="0">1+1</f><v>2</v></c></row>'
        '<row r="3"><c r="B3" t="inlineStr"><is><t>=1+1</t></is></c>'
        '<c r="C3"><f t="shared" si="0"/></c></row>'
        "</sheetData></worksheet>"
    )
    path = with_sheet(tmp_path / "formulas.xlsx", sheet.encode())

    assert _rows(path) == [["name", "budget"], ["张伟", FormulaCell(2.0)], ["=1+1", FormulaCell(None)]]


def test_the_first_sheet_is_found_through_the_workbook_not_by_its_file_name(tmp_path: Path) -> None:
    workbook = (
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
        '<sheet name="线索" sheetId="2" r:id="rId9"/><sheet name="Sheet" sheetId="1" r:id="rId1"/>'
        "</sheets></workbook>"
    )
    relationships = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="/xl/worksheets/sheet1.xml" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/worksheet"/>'
        '<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/leads.xml" Id="rId9"/>'
        '<Relationship Id="rId2" Target="styles.xml" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/styles"/></Relationships>'
    )
    # Formulas where the first sheet has none, and none where it has one.
    other = _MAIN + '<row r="2"><c r="A2"><v>1</v></c></row><row r="3"><c r="A3"><f>1+2</f><v>3</v></c></row>'
    first = _MAIN + '<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row>'
    first += '<row r="2"><c r="A2" t="str"><f>"王"&amp;"芳"</f><v>王芳</v></c></row>'
    first += '<row r="3"><c r="A3"><v>3</v></c></row>'
    path = with_parts(
        tmp_path / "second.xlsx",
        {
            "xl/workbook.xml": workbook.encode(),
            "xl/_rels/workbook.xml.rels": relationships.encode(),
            SHEET: (other + "</sheetData></worksheet>").encode(),
            "xl/worksheets/leads.xml": (first + "</sheetData></worksheet>").encode(),
        },
    )

    assert _rows(path) == [["name"], [FormulaCell("王芳")], [3.0]]
