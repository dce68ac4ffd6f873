"""The CPE inventory's pure rules: MAC notations, the upload header, a row's faults."""

from __future__ import annotations

import pytest

from domain.provisioning.cpe_rows import (
    TITLES,
    RowError,
    UploadFileError,
    UploadRow,
    check_header,
    csv_safe,
    mac_address,
    read_row,
)
from domain.shared.errors import InvalidValueError

KEYS = check_header(list(TITLES))


@pytest.mark.parametrize(
    "text",
    ["00:14:20:ff:3c:52", "00-14-20-FF-3C-52", "001420FF3C52", "0014.20FF.3C52", " 001420ff3c52 "],
)
def test_every_common_mac_notation_becomes_lowercase_colon_form(text: str) -> None:
    assert mac_address(text) == "00:14:20:ff:3c:52"


@pytest.mark.parametrize(
    "text", ["", "00:14:20:ff:3c", "00:14:20:ff:3c:5g", "00:14-20:ff:3c:52", "001420ff3c5", "=1+1"]
)
def test_anything_else_is_not_a_mac(text: str) -> None:
    with pytest.raises(InvalidValueError):
        mac_address(text)


def test_a_header_may_leave_optional_columns_off_the_end_but_nothing_else() -> None:
    assert check_header(["action", " Name ", "DEVICE MODEL", "MAC address", ""]) == (
        "action",
        "name",
        "model",
        "mac",
    )
    for header, message in (
        (["Action", "Name", "Device model"], "missing column"),
        (["Action", "Name", "MAC address", "Device model"], "wrong header order"),
        (["Action", "Name", "Device model", "MAC address", "Colour"], "unknown column"),
        ([*TITLES, "Managed by"], "wrong header order"),
        (["", ""], "no header"),
    ):
        with pytest.raises(UploadFileError, match=message):
            check_header(header)


def test_a_row_reports_every_fault_it_has() -> None:
    faults = read_row(5, KEYS, ["Move", "=cmd()", "", "zz", "", "", "maybe", ""])
    assert isinstance(faults, list)
    assert [(e.row, e.column) for e in faults] == [
        (5, "Action"),
        (5, "Name"),
        (5, "Device model"),
        (5, "MAC address"),
        (5, "Shared with reseller"),
    ]


def test_a_good_row_says_what_it_asks_for() -> None:
    row = read_row(2, KEYS, ["add", "dev", "Yealink", "001420FF3C52", "", "Std", "Y", "ABC"])
    assert row == UploadRow(
        2, "add", "dev", "Yealink", "00:14:20:ff:3c:52", None, "Std", True, "ABC"
    )


def test_a_cell_starting_with_a_tab_is_a_formula_and_controls_are_not_reported() -> None:
    faults = read_row(3, KEYS, ["Add", "\t=x", "M\x00odel", "001420FF3C52"])
    assert faults == [
        RowError(3, "Name", "=x", "a formula (cell starting with = + - @) is refused")
    ]


def test_exported_cells_that_a_spreadsheet_would_run_are_quoted() -> None:
    assert [csv_safe(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "ok")] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "'\tx",
        "ok",
    ]
