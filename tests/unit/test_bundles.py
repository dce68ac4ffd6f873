"""Bundle promotions' pure rules: lines, longest match, counters in log order, price."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from domain.billing import bundles
from domain.billing.rating import Rate
from domain.shared.errors import InvalidValueError


def test_lines_are_checked() -> None:
    assert bundles.parse_lines([{"prefix": "1209", "minutes": 60}]) == [
        bundles.Line("1209", 60, 100)
    ]
    for bad in (
        [],
        [{"prefix": "12a", "minutes": 1}],
        [{"prefix": "1", "minutes": 0}],
        [{"prefix": "1", "minutes": True}],
        [{"prefix": "1", "minutes": 1, "discount_percent": 101}],
        [{"prefix": "1", "minutes": 1}, {"prefix": "1", "minutes": 2}],
    ):
        with pytest.raises(InvalidValueError):
            bundles.parse_lines(bad)
    with pytest.raises(InvalidValueError):
        bundles.check_period("yearly")


def test_the_longest_prefix_wins_and_counters_keep_log_order() -> None:
    lines = (bundles.Line("1", 1), bundles.Line("1209", 2, 50))
    made = bundles.Bundle(uuid4(), 2, "monthly", lines)
    assert made.line_for("12095551234") == lines[1]
    assert made.line_for("44") is None
    counters, account = bundles.Counters(), uuid4()
    at = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    first, second = uuid4(), uuid4()
    line = lines[1]
    assert counters.cover(account, made, line, at, "UTC", first, 90) == bundles.Coverage(90, 30)
    assert counters.cover(account, made, line, at, "UTC", second, 60) == bundles.Coverage(30, 0)
    # rated again with fewer seconds (a reprocess): it keeps its place, the next gets more
    assert counters.cover(account, made, line, at, "UTC", first, 60) == bundles.Coverage(60, 60)
    assert counters.cover(account, made, line, at, "UTC", second, 60) == bundles.Coverage(60, 0)
    # in Vilnius it is already November: another period
    assert counters.cover(account, made, line, at, "Europe/Vilnius", uuid4(), 60) == (
        bundles.Coverage(60, 60)
    )


def test_the_covered_seconds_are_discounted_and_the_connection_fee_is_not() -> None:
    rate = Rate("1209", Decimal("0.60"), 1, 1, connection_fee=Decimal("0.05"))
    assert bundles.price(rate, 120, 60, 50, "peak") == Decimal("0.05") + Decimal("0.60") + Decimal(
        "0.30"
    )
    assert bundles.price(rate, 120, 0, 50, "peak") == Decimal("1.25")
    assert bundles.price(rate, 60, 60, 100, "peak") == Decimal("0.05")
