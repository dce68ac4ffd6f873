"""Pure rules of the CPE inventory: MAC addresses, device names, and the batch-upload file's
columns and rows (what a row says, and every fault found in it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from domain.shared.errors import InvalidValueError

_HEX = "[0-9a-f]"
_MAC = re.compile(
    rf"^(?:{_HEX}{{2}}([:-]){_HEX}{{2}}(?:\1{_HEX}{{2}}){{4}}"  # 00:14:20:ff:3c:52, 00-14-...
    rf"|{_HEX}{{12}}"  # 001420ff3c52
    rf"|{_HEX}{{4}}\.{_HEX}{{4}}\.{_HEX}{{4}})$"  # 0014.20ff.3c52 (Cisco)
)
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
#: A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_REFUSED = "a formula (cell starting with = + - @) is refused"


class UploadFileError(InvalidValueError):
    """The file as a whole cannot be read as an inventory upload: nothing is applied."""

    code = "invalid_file"


def mac_address(text: str) -> str:
    """A MAC address in any common notation, as lowercase colon form (00:14:20:ff:3c:52)."""
    compact = text.strip().lower()
    if not _MAC.match(compact):
        raise InvalidValueError(
            f"{text!r} is not a MAC address (e.g. 00:14:20:FF:3C:52, 00-14-20-FF-3C-52,"
            " 001420FF3C52)"
        )
    digits = re.sub(r"[^0-9a-f]", "", compact)
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def device_name(text: str) -> str:
    """A device id: 1-100 printable characters, no leading or trailing blanks."""
    if text != text.strip() or not _NAME.match(text):
        raise InvalidValueError("a device name must be 1-100 printable characters")
    if text.startswith(FORMULA_STARTS):
        raise InvalidValueError("a device name must not start with = + - or @")
    return text


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    required: bool


COLUMNS: tuple[Column, ...] = (
    Column("action", "Action", True),
    Column("name", "Name", True),
    Column("model", "Device model", True),
    Column("mac", "MAC address", True),
    Column("managed_by", "Managed by", False),
    Column("profile", "CPE profile", False),
    Column("shared", "Shared with reseller", False),
    Column("tenant", "Tenant customer name", False),
)
TITLES = tuple(c.title for c in COLUMNS)
_BY_TITLE = {c.title.casefold(): c for c in COLUMNS}


def check_header(cells: list[str]) -> tuple[str, ...]:
    """The keys of the columns a header names, in the one order the template has.

    The four mandatory columns come first; optional ones may be left off the end."""
    names = [cell.strip() for cell in cells]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise UploadFileError(f"the file has no header row; the columns are: {', '.join(TITLES)}")
    keys: list[str] = []
    for position, name in enumerate(names):
        expected = COLUMNS[position] if position < len(COLUMNS) else None
        found = _BY_TITLE.get(name.casefold())
        if found is None:
            raise UploadFileError(
                f"unknown column {name!r} (column {position + 1}); the columns are, in this"
                f" order: {', '.join(TITLES)}"
            )
        if found is not expected:
            raise UploadFileError(
                f"wrong header order: column {position + 1} is {found.title!r}, expected"
                f" {expected.title if expected else 'nothing'!r}; the columns are, in this"
                f" order: {', '.join(TITLES)}"
            )
        keys.append(found.key)
    missing = [c.title for c in COLUMNS[len(keys) :] if c.required]
    if missing:
        raise UploadFileError(f"missing column(s): {', '.join(missing)}")
    return tuple(keys)


@dataclass(frozen=True)
class RowError:
    """One fault in one row (row numbers count the header as row 1)."""

    row: int
    column: str
    value: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value, "reason": self.reason}


@dataclass(frozen=True)
class UploadRow:
    """What one row asks for, its values checked (names are looked up later)."""

    row: int
    action: str  # "add" or "remove"
    name: str
    model: str
    mac: str  # lowercase colon form
    managed_by: str | None
    profile: str | None
    shared: bool
    tenant: str | None


_TITLE = {c.key: c.title for c in COLUMNS}


def read_row(row: int, keys: tuple[str, ...], cells: list[str]) -> UploadRow | list[RowError]:
    """A row's request, or every fault found in it."""
    values = {key: (cells[i].strip() if i < len(cells) else "") for i, key in enumerate(keys)}
    errors = [
        RowError(row, _TITLE[key], shown(value), FORMULA_REFUSED)
        for key, value in values.items()
        if value.startswith(FORMULA_STARTS) or (cells_raw_starts(cells, keys, key))
    ]
    faulty = {e.column for e in errors}

    def fault(key: str, reason: str) -> None:
        if _TITLE[key] not in faulty:
            errors.append(RowError(row, _TITLE[key], shown(values.get(key, "")), reason))

    for key in ("action", "name", "model", "mac"):
        if not values.get(key):
            fault(key, f"{_TITLE[key]} is required")
    action = values.get("action", "").casefold()
    if action and action not in ("add", "remove"):
        fault("action", "Action must be Add or Remove")
    mac = ""
    if values.get("mac"):
        try:
            mac = mac_address(values["mac"])
        except InvalidValueError as error:
            fault("mac", error.detail)
    if values.get("name"):
        try:
            device_name(values["name"])
        except InvalidValueError as error:
            fault("name", error.detail)
    shared = values.get("shared", "").casefold()
    if shared not in ("", "y", "n", "yes", "no"):
        fault("shared", "Shared with reseller must be Y or N")
    if errors:
        return sorted(errors, key=lambda e: TITLES.index(e.column))
    return UploadRow(
        row=row,
        action=action,
        name=values["name"],
        model=values["model"],
        mac=mac,
        managed_by=values.get("managed_by") or None,
        profile=values.get("profile") or None,
        shared=shared in ("y", "yes"),
        tenant=values.get("tenant") or None,
    )


def cells_raw_starts(cells: list[str], keys: tuple[str, ...], key: str) -> bool:
    """A cell whose raw text (before trimming) starts with a tab or CR is refused too."""
    index = keys.index(key)
    return index < len(cells) and cells[index][:1] in ("\t", "\r")


def shown(value: str) -> str:
    """A cell's text fit to report back: control characters dropped (a database text
    column cannot hold NUL), at most 200 characters."""
    return _CONTROLS.sub("", value)[:200]


def csv_safe(value: str) -> str:
    """A cell fit for a CSV a spreadsheet will open: formulas are quoted into text."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value
