"""Crafted XLSX files: a few hundred kilobytes that expand into a cell, a row count or a grid that
would take calamine hundreds of megabytes (issue 18, defect 3)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import openpyxl

SHEET = "xl/worksheets/sheet1.xml"
SHARED_STRINGS = "xl/sharedStrings.xml"
_MAIN = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
_HEADER_ROW = b'<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row>'
_END = b"</sheetData></worksheet>"


def _write(path: Path, parts: dict[str, Callable[[], Iterable[bytes]]]) -> Path:
    """An openpyxl workbook with `parts` replaced or added, each written as a stream."""
    workbook = openpyxl.Workbook()
    workbook.active.append(["name"])
    base = io.BytesIO()
    workbook.save(base)
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename not in parts:
                target.writestr(info, source.read(info))
        for name, chunks in parts.items():
            with target.open(name, "w", force_zip64=True) as stream:
                for chunk in chunks():
                    stream.write(chunk)
    return path


def _repeated(block: bytes, times: int) -> Iterator[bytes]:
    for _ in range(times):
        yield block


def huge_cell(path: Path, megabytes: int = 128) -> Path:
    """One inline-string cell of `megabytes` MB (the issue's 402 KB file held a 400 MB one)."""

    def sheet() -> Iterator[bytes]:
        yield _MAIN + _HEADER_ROW + b'<row r="2"><c r="A2" t="inlineStr"><is><t>'
        yield from _repeated(b"x" * 2**20, megabytes)
        yield b"</t></is></c></row>" + _END

    return _write(path, {SHEET: sheet})


def huge_shared_string(path: Path, megabytes: int = 300) -> Path:
    """A shared string larger than a whole workbook may expand to."""

    def strings() -> Iterator[bytes]:
        yield b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>'
        yield from _repeated(b"y" * 2**20, megabytes)
        yield b"</t></si></sst>"

    def sheet() -> Iterator[bytes]:
        yield _MAIN + _HEADER_ROW + b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>' + _END

    return _write(path, {SHEET: sheet, SHARED_STRINGS: strings})


def many_rows(path: Path, rows: int = 2_000_000) -> Path:
    """Rows without an `r` attribute, as some exporters write them (the issue's 687 KB file)."""

    def sheet() -> Iterator[bytes]:
        yield _MAIN + _HEADER_ROW
        yield from _repeated(b"<row><c><v>1</v></c></row>" * 1000, rows // 1000)
        yield _END

    return _write(path, {SHEET: sheet})


def with_sheet(path: Path, sheet: bytes) -> Path:
    return with_parts(path, {SHEET: sheet})


def with_parts(path: Path, parts: dict[str, bytes]) -> Path:
    return _write(path, {name: (lambda data=data: [data]) for name, data in parts.items()})


def far_cell(path: Path) -> Path:
    """A1 and GR100000: calamine fills the 200 x 100,000 grid between them."""

    def sheet() -> Iterator[bytes]:
        yield _MAIN + _HEADER_ROW + b'<row r="100000"><c r="GR100000"><v>1</v></c></row>' + _END

    return _write(path, {SHEET: sheet})


def far_row_first(path: Path) -> Path:
    """Row 100000 before row 2, and the far column in the later row: the grid is the same."""

    def sheet() -> Iterator[bytes]:
        yield _MAIN + b'<row r="100000"><c r="A100000"><v>1</v></c></row>'
        yield b'<row r="2"><c r="GR2"><v>1</v></c></row>' + _END

    return _write(path, {SHEET: sheet})


def far_cell_in_row_one(path: Path) -> Path:
    """A cell naming GR100000 inside row 1: calamine places it by its own reference."""

    def sheet() -> Iterator[bytes]:
        yield _MAIN + b'<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c>'
        yield b'<c r="GR100000"><v>1</v></c></row>' + _END

    return _write(path, {SHEET: sheet})


def empty_shared_strings(path: Path, count: int = 12_000_000) -> Path:
    """Shared strings with nothing in them: each still costs calamine an object (156 MB of XML)."""

    def strings() -> Iterator[bytes]:
        yield b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        yield from _repeated(b"<si><t/></si>" * 1000, count // 1000)
        yield b"</sst>"

    return _write(path, {SHARED_STRINGS: strings})


def merged_ranges(path: Path, count: int = 8_000_000) -> Path:
    """Merged ranges after the data: calamine loads each (192 MB of XML)."""

    def sheet() -> Iterator[bytes]:
        yield _MAIN + _HEADER_ROW + b"</sheetData><mergeCells>"
        yield from _repeated(b'<mergeCell ref="A1:B2"/>' * 1000, count // 1000)
        yield b"</mergeCells></worksheet>"

    return _write(path, {SHEET: sheet})


BOMBS = {
    "huge_cell": (huge_cell, "holds more than"),
    "huge_shared_string": (huge_shared_string, "expands to"),
    "many_rows": (many_rows, "more than 100000 rows"),
    "far_cell": (far_cell, "columns by"),
    "far_row_first": (far_row_first, "columns by"),
    "far_cell_in_row_one": (far_cell_in_row_one, "columns by"),
    "empty_shared_strings": (empty_shared_strings, "shared strings or merged ranges"),
    "merged_ranges": (merged_ranges, "shared strings or merged ranges"),
}
