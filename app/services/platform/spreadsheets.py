"""Spreadsheet files: rows streamed out of CSV and XLSX uploads, header first, within bounds a crafted
file cannot pass (a workbook's formula cells marked); CSV and XLSX written so a spreadsheet runs no
cell."""

from __future__ import annotations

import csv
import io
import json
import posixpath
import re
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from python_calamine import CalamineWorkbook

from app.domain.platform.errors import FieldError, InvalidInput
from app.domain.platform.formulas import FormulaCell, spreadsheet_cell

CSV_SUFFIXES = (".csv",)
# Only Office Open XML workbooks: their size and shape can be checked before calamine reads them. A
# legacy .xls or an .ods of a few kilobytes can make calamine build a grid of hundreds of megabytes
# (repeated-row attributes, one cell far from A1) that nothing short of reading it would reveal.
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")

# One cell or shared string, markup included. Excel stops a cell at 32,767 characters ("Excel
# specifications and limits"): at most 160 KB of XML even when every character is escaped.
MAX_CELL_BYTES = 256 * 1024
# All members of a workbook together, uncompressed. A 100,000-row sheet of 20 text columns is about
# 100 MB of XML; a decompression bomb is 1000 times its compressed size.
MAX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
# calamine holds a sheet as a dense grid from A1 to the last cell, about 32 bytes per cell whether it
# is filled or not: two cells, A1 and GR100000, cost 600 MB. This caps the grid near 100 MB.
MAX_CELLS = 3_000_000
# Half the cell bound: a stretch of a part without markup never spans two whole chunks.
_CHUNK_BYTES = MAX_CELL_BYTES // 2
# A formula cell's place, packed as row << _ROW_SHIFT | column (both from 1): the grid bound keeps a
# column below 2**22, and 8 bytes a cell keep even a sheet of formulas within 24 MB.
_ROW_SHIFT = 24
# The package and workbook relationships and the workbook part name the first sheet; they are a few
# kilobytes, and what lies past this is not read.
_RELATIONSHIP_PART_BYTES = 1024 * 1024


def check_filename(filename: str) -> None:
    if not filename.lower().endswith(CSV_SUFFIXES + WORKBOOK_SUFFIXES):
        raise InvalidInput(
            "Upload a .csv or .xlsx file (save an .xls or .ods workbook as .xlsx first).",
            code="import.file_type",
            errors=[FieldError("file", "file.type", "csv, xlsx or xlsm")],
        )


def _csv_encoding(path: Path) -> str:
    # Excel in China saves CSV as GBK; a UTF-8 decode error in the first block means GB18030.
    with path.open("rb") as handle:
        head = handle.read(256 * 1024)
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            return "gb18030"
    return "utf-8-sig"


def read_rows(path: Path, filename: str, *, max_rows: int) -> tuple[int, Iterator[list[Any]]]:
    """The number of data rows, and the rows: the header, then each data row.

    A workbook is checked against the bounds above in one streaming pass (memory stays flat however
    far it would expand), then opened (and its first sheet loaded) once for both; a CSV is counted in
    one pass and streamed in another, so it is never held in memory.
    """
    if filename.lower().endswith(CSV_SUFFIXES):
        encoding = _csv_encoding(path)
        with path.open(encoding=encoding, newline="", errors="replace") as handle:
            try:
                total = max(sum(1 for _ in csv.reader(handle)) - 1, 0)
            except csv.Error as exc:  # a field over the reader's limit (131,072 characters)
                raise _too_large(f"A field of the CSV is over 128 KB of text: {exc}") from exc
        # The streaming pass reads the same text, so it meets no field the count did not.
        return total, _stream_csv(path, encoding)
    formulas = check_workbook(path, max_rows=max_rows)
    try:
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    except Exception as exc:  # calamine raises its own types for corrupt files
        raise InvalidInput(f"The workbook cannot be read: {exc}", code="import.file_unreadable") from exc
    rows = sheet.iter_rows()
    if formulas and sheet.start is not None:
        rows = _mark_formulas(rows, formulas, first_column=sheet.start[1] + 1)
    return max(sheet.height - 1, 0), rows


def _mark_formulas(
    rows: Iterator[list[Any]], formulas: Sequence[int], *, first_column: int
) -> Iterator[list[Any]]:
    """The rows, each formula cell of a data row as a FormulaCell holding its saved result.

    calamine yields rows from the sheet's first row and cells from its first filled column.
    """
    places = iter(formulas)
    place = next(places, None)
    for number, row in enumerate(rows, start=1):
        while place is not None and place >> _ROW_SHIFT <= number:
            index = (place & ((1 << _ROW_SHIFT) - 1)) - first_column
            if number > 1 and 0 <= index < len(row):  # row 1 is the header
                row[index] = FormulaCell(row[index] if row[index] != "" else None)
            place = next(places, None)
        yield row


class CsvSheet:
    """Writes a CSV file for spreadsheets row by row, the one way every export writes one: UTF-8
    with a byte order mark (so Excel reads Chinese names right), lists and objects as JSON, and no
    cell that a spreadsheet would run as a formula (app/domain/platform/formulas.py)."""

    def __init__(self, target: BinaryIO, header: Sequence[str]) -> None:
        self._text = io.TextIOWrapper(target, encoding="utf-8", newline="")
        self._text.write("\ufeff")
        self._writer = csv.writer(self._text, lineterminator="\r\n")
        self._writer.writerow(header)

    def extend(self, rows: Iterable[Sequence[Any]]) -> None:
        self._writer.writerows([sheet_cell(value) for value in row] for row in rows)

    def close(self) -> None:
        self._text.flush()
        self._text.detach()  # the target stays open: its owner closes it


class XlsxSheet:
    """Writes an XLSX workbook of one sheet row by row, with the cells `CsvSheet` writes: the same
    JSON for lists and objects and the same apostrophe before text that would run as a formula.
    Streamed (openpyxl's write-only mode), so a sheet of many rows never becomes a grid of cell
    objects in memory."""

    def __init__(self, target: BinaryIO, header: Sequence[str], *, title: str) -> None:
        self._target = target
        self._workbook = Workbook(write_only=True)
        self._sheet = self._workbook.create_sheet(title=title[:31])
        self._sheet.append([_xlsx_text(name) for name in header])

    def extend(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self._sheet.append([_xlsx_cell(value) for value in row])

    def close(self) -> None:
        self._workbook.save(self._target)


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.BytesIO()
    sheet = CsvSheet(buffer, header)
    sheet.extend(rows)
    sheet.close()
    return buffer.getvalue()


def write_xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str = "export") -> bytes:
    buffer = io.BytesIO()
    sheet = XlsxSheet(buffer, header, title=title)
    sheet.extend(rows)
    sheet.close()
    return buffer.getvalue()


def sheet_cell(value: Any) -> Any:
    """One cell of an export, CSV or XLSX alike."""
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    return spreadsheet_cell(value)


def _xlsx_cell(value: Any) -> Any:
    value = sheet_cell(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return _xlsx_text(str(value))


def _xlsx_text(text: str) -> str:
    # XML 1.0 cannot carry most control characters (openpyxl refuses them), and a cell holds at most
    # 32,767 characters ("Excel specifications and limits").
    return str(ILLEGAL_CHARACTERS_RE.sub("", text))[:32_767]


def _stream_csv(path: Path, encoding: str) -> Iterator[list[Any]]:
    with path.open(encoding=encoding, newline="", errors="replace") as handle:
        yield from csv.reader(handle)


def _too_large(detail: str) -> InvalidInput:
    return InvalidInput(detail, code="import.file_too_large")


def check_workbook(path: Path, *, max_rows: int) -> Sequence[int]:
    """InvalidInput unless the workbook stays within the bounds above, read without holding it; else
    the places of the first sheet's formula cells, in row order (see _ROW_SHIFT).

    The declared sizes are checked first; every member is then inflated in chunks and scanned as a
    stream. zipfile stops a member at its declared size and checks its CRC, so a member that lies
    about its size fails here instead of expanding.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            declared = sum(member.file_size for member in members)
            if declared > MAX_UNCOMPRESSED_BYTES:
                raise _too_large(
                    f"The workbook expands to {declared // 2**20} MB; at most "
                    f"{MAX_UNCOMPRESSED_BYTES // 2**20} MB can be imported. Split it into smaller files."
                )
            first_sheet = _first_sheet(archive)
            formulas: array[int] = array("Q")
            for member in members:
                scanner = None
                if _is_xml(member.filename):
                    marks = formulas if member.filename == first_sheet else None
                    scanner = _PartScanner(member.filename, max_rows, formulas=marks)
                with archive.open(member) as stream:
                    while chunk := stream.read(_CHUNK_BYTES):
                        if scanner is not None:
                            scanner.feed(chunk)
                if scanner is not None:
                    scanner.close()
    # zipfile raises BadZipFile for a bad archive or CRC, zlib.error for a corrupt stream,
    # NotImplementedError for an unknown compression method, RuntimeError for an encrypted member,
    # EOFError for a truncated one.
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError) as exc:
        raise InvalidInput(f"The workbook cannot be read: {exc}", code="import.file_unreadable") from exc
    # Spreadsheet programs write rows in order; only a crafted part needs the sort.
    return formulas if all(a <= b for a, b in pairwise(formulas)) else sorted(formulas)


_RELATIONSHIP = re.compile(rb"<(?:[\w.-]+:)?Relationship\s([^>]*)>")
_SHEET = re.compile(rb"<(?:[\w.-]+:)?sheet\s([^>]*)>")
_ATTRIBUTE = re.compile(rb'([\w.:-]+)\s*=\s*"([^"]*)"')


def _first_sheet(archive: zipfile.ZipFile) -> str | None:
    """The part calamine reads as the first sheet: the workbook part's first sheet, found through
    the package's relationships and then the workbook's. None if they do not name one."""
    workbook = _target(
        archive, "_rels/.rels", "", lambda rel: rel.get(b"Type", b"").endswith(b"/officeDocument")
    )
    if workbook is None:
        return None
    sheet = _SHEET.search(_head(archive, workbook))
    if sheet is None:
        return None
    # The relationship id is the sheet's one namespaced `id` attribute (r:id); sheetId is its number.
    relationship = next((v for k, v in _ATTRIBUTE.findall(sheet.group(1)) if k.endswith(b":id")), None)
    folder, name = posixpath.split(workbook)
    return _target(
        archive,
        posixpath.join(folder, "_rels", name + ".rels"),
        folder,
        lambda rel: rel.get(b"Id") == relationship,
    )


def _target(
    archive: zipfile.ZipFile, part: str, folder: str, wanted: Callable[[dict[bytes, bytes]], bool]
) -> str | None:
    """The part named by the first relationship of `part` that `wanted` picks."""
    for match in _RELATIONSHIP.finditer(_head(archive, part)):
        relationship = dict(_ATTRIBUTE.findall(match.group(1)))
        if wanted(relationship):
            target = relationship.get(b"Target", b"").decode("utf-8", "replace")
            return (
                target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            )
    return None


def _head(archive: zipfile.ZipFile, part: str) -> bytes:
    try:
        with archive.open(part) as stream:
            return stream.read(_RELATIONSHIP_PART_BYTES)
    except KeyError:
        return b""


def _is_xml(name: str) -> bool:
    return name.lower().endswith((".xml", ".rels"))


@lru_cache(maxsize=4096)
def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - ord("A") + 1
    return number


# Where a row, a cell, a shared string, a merged range or a cell's formula starts (any namespace
# prefix, attributes in any order; a row's number and a cell's column letters and row number when
# they name them: calamine places a cell by its own reference, whatever row element holds it), and
# where a sheet's data or the shared-string table ends.
_BOUNDARY = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?(?:"
    rb"(row)(?=[\s/>])(?:[^>]*?\sr=\"(\d+)\")?"
    rb"|(c)(?=[\s/>])(?:[^>]*?\sr=\"([A-Z]+)(\d*))?"
    rb"|(si)(?=[\s/>])"
    rb"|(mergeCell)(?=[\s/>])"
    rb"|(f)(?=[\s/>])"
    rb"|/(?:[A-Za-z_][\w.-]*:)?(?:sheetData|sst)>)"
)


class _PartScanner:
    """Bounds what calamine would build from one XML part, scanning bytes rather than parsing: the
    bytes of each cell or shared string (rich-text runs together), the grid from A1 to a worksheet's
    last row and column, and the longest stretch without markup. Given `formulas`, it appends the
    place of each cell that holds a formula.

    A byte scan costs one regular-expression match per cell, expat with Python callbacks five. It
    can trust what it sees because `<` never appears in XML text or attribute values; it refuses
    comments, CDATA sections, DTDs and processing instructions, where a fake `<c` could hide, and
    which no spreadsheet program writes into a workbook's parts.
    """

    def __init__(self, member: str, max_rows: int, *, formulas: array[int] | None = None) -> None:
        self._member = member
        self._max_rows = max_rows
        self._formulas = formulas
        self._carry = b""  # the unfinished tag at the end of the last chunk
        self._offset = 0  # of the first byte of _carry in the part
        self._item_start = -1  # where the current cell or shared string began; -1 outside one
        self._row = 0
        self._column = 0
        self._cell_row = 0  # the current cell's row: its own reference's, else its row element's
        self._max_row = 0
        self._max_column = 0
        # Shared strings and merged ranges: calamine keeps one object for each, however small the
        # XML (12 million empty <si/> in a 300 KB file took 265 MB).
        self._records = 0

    def feed(self, chunk: bytes) -> None:
        if b"<" not in chunk:
            # Every chunk holds markup, so no text, tag or cell exceeds two chunks.
            raise self._cell_too_large()
        buffer = self._carry + chunk
        declaration = 5 if self._offset == 0 and buffer.startswith(b"<?xml") else 0
        if buffer.find(b"<!") >= 0 or buffer.find(b"<?", declaration) >= 0:
            raise InvalidInput(
                f"The workbook part {self._member} holds XML that no spreadsheet program writes "
                "(a comment, CDATA, DTD or processing instruction); save it again with Excel or WPS.",
                code="import.file_unreadable",
            )
        cut = buffer.rfind(b"<")
        self._scan(buffer, cut)
        self._offset += cut
        self._carry = buffer[cut:]

    def close(self) -> None:
        self._scan(self._carry, len(self._carry))
        self._end_item(self._offset + len(self._carry))

    def _scan(self, buffer: bytes, end: int) -> None:
        # Once per boundary of an import's largest file: locals, and no call unless a bound is near.
        offset, item_start, column, cell_row = self._offset, self._item_start, self._column, self._cell_row
        max_row, max_column = self._max_row, self._max_column
        for match in _BOUNDARY.finditer(buffer, 0, end):
            position = offset + match.start()
            if item_start >= 0 and position - item_start > MAX_CELL_BYTES:
                raise self._cell_too_large()
            row, row_number, cell, column_letters, cell_row_number, shared_string, merged, formula = (
                match.groups()
            )
            if formula is not None:
                # Part of the cell it is in: the cell's bytes go on counting.
                if item_start >= 0 and self._formulas is not None:
                    self._formulas.append(cell_row << _ROW_SHIFT | column)
                continue
            item_start = -1
            if cell is not None:
                column = _column_number(column_letters) if column_letters else column + 1
                cell_row = int(cell_row_number) if cell_row_number else self._row
                item_start = position
                if column > max_column:
                    self._max_column = max_column = column
                    self._check_grid()
                if cell_row > max_row:
                    self._reach_row(cell_row)
                    max_row = self._max_row
            elif shared_string is not None:
                item_start = position
                self._count_record()
            elif merged is not None:
                self._count_record()
            elif row is not None:
                self._row = int(row_number) if row_number else self._row + 1
                self._reach_row(self._row)
                max_row = self._max_row
                column = 0
        self._item_start, self._column, self._cell_row = item_start, column, cell_row

    def _reach_row(self, number: int) -> None:
        self._max_row = max(self._max_row, number)
        if self._max_row > self._max_rows + 1:  # the header row is not imported
            raise _too_large(
                f"The sheet has more than {self._max_rows} rows; at most {self._max_rows} can be "
                "imported at once."
            )
        self._check_grid()

    def _count_record(self) -> None:
        self._records += 1
        if self._records > MAX_CELLS:
            raise _too_large(
                f"The workbook part {self._member} holds more than {MAX_CELLS} shared strings or merged "
                "ranges; at most as many as a sheet may have cells can be imported."
            )

    def _end_item(self, position: int) -> None:
        if self._item_start >= 0 and position - self._item_start > MAX_CELL_BYTES:
            raise self._cell_too_large()
        self._item_start = -1

    def _cell_too_large(self) -> InvalidInput:
        where = f"row {self._row} of {self._member}" if self._row else self._member
        return _too_large(
            f"A cell in {where} holds more than {MAX_CELL_BYTES // 1024} KB; Excel itself stops a cell "
            "at 32,767 characters."
        )

    def _check_grid(self) -> None:
        if self._max_row * self._max_column > MAX_CELLS:
            raise _too_large(
                f"The sheet spans {self._max_column} columns by {self._max_row}+ rows from A1; at most "
                f"{MAX_CELLS} cells can be imported at once (delete empty columns and rows far from the "
                "data)."
            )
