"""Streaming rows out of CSV and XLSX files, header first, within bounds a crafted file cannot pass."""

from __future__ import annotations

import csv
import re
import zipfile
import zlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from python_calamine import CalamineWorkbook

from app.domain.errors import FieldError, InvalidInput

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
    check_workbook(path, max_rows=max_rows)
    try:
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    except Exception as exc:  # calamine raises its own types for corrupt files
        raise InvalidInput(f"The workbook cannot be read: {exc}", code="import.file_unreadable") from exc
    return max(sheet.height - 1, 0), sheet.iter_rows()


def _stream_csv(path: Path, encoding: str) -> Iterator[list[Any]]:
    with path.open(encoding=encoding, newline="", errors="replace") as handle:
        yield from csv.reader(handle)


def _too_large(detail: str) -> InvalidInput:
    return InvalidInput(detail, code="import.file_too_large")


def check_workbook(path: Path, *, max_rows: int) -> None:
    """InvalidInput unless the workbook stays within the bounds above, read without holding it.

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
            for member in members:
                scanner = _PartScanner(member.filename, max_rows) if _is_xml(member.filename) else None
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


def _is_xml(name: str) -> bool:
    return name.lower().endswith((".xml", ".rels"))


@lru_cache(maxsize=4096)
def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - ord("A") + 1
    return number


# Where a row, a cell or a shared string starts (any namespace prefix, attributes in any order; a
# row's number and a cell's column letters and row number when they name them: calamine places a
# cell by its own reference, whatever row element holds it), and where a sheet's data or the
# shared-string table ends.
_BOUNDARY = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?(?:"
    rb"(row)(?=[\s/>])(?:[^>]*?\sr=\"(\d+)\")?"
    rb"|(c)(?=[\s/>])(?:[^>]*?\sr=\"([A-Z]+)(\d*))?"
    rb"|(si)(?=[\s/>])"
    rb"|(mergeCell)(?=[\s/>])"
    rb"|/(?:[A-Za-z_][\w.-]*:)?(?:sheetData|sst)>)"
)


class _PartScanner:
    """Bounds what calamine would build from one XML part, scanning bytes rather than parsing: the
    bytes of each cell or shared string (rich-text runs together), the grid from A1 to a worksheet's
    last row and column, and the longest stretch without markup.

    A byte scan costs one regular-expression match per cell, expat with Python callbacks five. It
    can trust what it sees because `<` never appears in XML text or attribute values; it refuses
    comments, CDATA sections, DTDs and processing instructions, where a fake `<c` could hide, and
    which no spreadsheet program writes into a workbook's parts.
    """

    def __init__(self, member: str, max_rows: int) -> None:
        self._member = member
        self._max_rows = max_rows
        self._carry = b""  # the unfinished tag at the end of the last chunk
        self._offset = 0  # of the first byte of _carry in the part
        self._item_start = -1  # where the current cell or shared string began; -1 outside one
        self._row = 0
        self._column = 0
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
        offset, item_start, column = self._offset, self._item_start, self._column
        max_row, max_column = self._max_row, self._max_column
        for match in _BOUNDARY.finditer(buffer, 0, end):
            position = offset + match.start()
            if item_start >= 0 and position - item_start > MAX_CELL_BYTES:
                raise self._cell_too_large()
            item_start = -1
            row, row_number, cell, column_letters, cell_row, shared_string, merged = match.groups()
            if cell is not None:
                column = _column_number(column_letters) if column_letters else column + 1
                item_start = position
                if column > max_column:
                    self._max_column = max_column = column
                    self._check_grid()
                if cell_row and int(cell_row) > max_row:
                    self._reach_row(int(cell_row))
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
        self._item_start, self._column = item_start, column

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
