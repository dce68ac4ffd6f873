"""CPE inventory files: reading .csv, .xls and .xlsx uploads row by row (the content must be
what the name says), writing the template and the error list (safe to open in a
spreadsheet)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from domain.provisioning.cpe_rows import (
    TITLES,
    RowError,
    UploadFileError,
    UploadRow,
    check_header,
    csv_safe,
    read_row,
)

FORMATS = ("csv", "xls", "xlsx")
_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class FileSummary:
    """A file that passed the whole-file checks: its format, columns and data rows."""

    file_format: str
    keys: tuple[str, ...]
    rows_total: int


def inspect(path: Path, filename: str) -> FileSummary:
    """Check the file as a whole (type, header, not empty), reading it once to the end."""
    file_format = claimed_format(path, filename)
    rows = cells(path, file_format)
    header = next(rows, None)
    if header is None:
        raise UploadFileError("the file is empty")
    keys = check_header(header[1])
    total = sum(1 for _ in rows)
    if total == 0:
        raise UploadFileError("the file has a header but no rows")
    return FileSummary(file_format, keys, total)


def claimed_format(path: Path, filename: str) -> str:
    """The format the file's name claims, once its content is seen to be that format."""
    suffix = Path(filename).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise UploadFileError(f"send a .csv, .xls or .xlsx file, not {filename!r}")
    with path.open("rb") as stream:
        head = stream.read(_SNIFF_BYTES)
    if not head:
        raise UploadFileError("the file is empty")
    actual = _sniff(head)
    if actual != suffix:
        seen = f"a {actual} file" if actual else "neither text nor a spreadsheet"
        raise UploadFileError(f"{filename!r} is named .{suffix} but its content is {seen}")
    return suffix


def _sniff(head: bytes) -> str | None:
    if head.startswith(_ZIP):
        return "xlsx"
    if head.startswith(_OLE2):
        return "xls"
    if b"\x00" in head:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # not just a character cut at the sniff's end
            return None
    return "csv"


def cells(path: Path, file_format: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, cell texts) of each non-blank row, the header being row 1."""
    reader = {"csv": _csv_rows, "xls": _xls_rows, "xlsx": _xlsx_rows}[file_format]
    for number, row in enumerate(reader(path), start=1):
        if any(cell.strip() for cell in row):
            yield number, row


def upload_rows(
    path: Path, summary: FileSummary
) -> Iterator[tuple[int, UploadRow | list[RowError]]]:
    """Each data row as what it asks for, or its faults; with its row number."""
    rows = cells(path, summary.file_format)
    next(rows, None)  # the header, checked by inspect()
    for number, row in rows:
        yield number, read_row(number, summary.keys, row)


# -- readers -------------------------------------------------------------------------------
def _csv_rows(path: Path) -> Iterator[list[str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            first = stream.readline()
            delimiter = ";" if first.count(";") > first.count(",") else ","
            stream.seek(0)
            yield from csv.reader(stream, delimiter=delimiter)
    except UnicodeDecodeError:
        raise UploadFileError("the CSV file is not UTF-8 text") from None
    except csv.Error as error:
        raise UploadFileError(f"the CSV file cannot be read: {error}") from None


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        raise UploadFileError("the file is not a readable .xlsx workbook") from None
    try:
        if not book.worksheets:
            return
        sheet = book.worksheets[0]
        try:
            for row in sheet.iter_rows(values_only=True):
                yield [_text(value) for value in row]
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError):
            raise UploadFileError("the .xlsx workbook is damaged") from None
    finally:
        book.close()


def _xls_rows(path: Path) -> Iterator[list[str]]:
    import xlrd

    try:
        book = xlrd.open_workbook(path, on_demand=True)
    except (xlrd.XLRDError, OSError, ValueError, IndexError, AssertionError):
        raise UploadFileError("the file is not a readable .xls workbook") from None
    try:
        if book.nsheets == 0:
            return
        sheet = book.sheet_by_index(0)
        for index in range(sheet.nrows):
            yield [_xls_text(cell, book.datemode) for cell in sheet.row(index)]
    finally:
        book.release_resources()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _xls_text(cell: Any, datemode: int) -> str:
    import xlrd

    if cell.ctype == xlrd.XL_CELL_DATE:
        return _text(xlrd.xldate_as_datetime(cell.value, datemode))
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return _text(bool(cell.value))
    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
        return ""
    return _text(cell.value)


# -- writers -------------------------------------------------------------------------------
def template_csv() -> bytes:
    """The upload template: the header row, every column in the one accepted order."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(TITLES)
    return out.getvalue().encode()


def template_xlsx() -> bytes:
    import openpyxl
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Phones"
    sheet.append(list(TITLES))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column, title in zip("ABCDEFGH", TITLES, strict=True):
        sheet.column_dimensions[column].width = max(14, len(title) + 4)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


ERROR_TITLES = ("Row", "Column", "Value", "Reason")


def errors_csv(errors: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The error list as CSV lines; a cell a spreadsheet would run as a formula is quoted."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ERROR_TITLES)
    for error in errors:
        writer.writerow(
            [error["row"], *(csv_safe(str(error[k])) for k in ("column", "value", "reason"))]
        )
        if out.tell() > 65536:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()
