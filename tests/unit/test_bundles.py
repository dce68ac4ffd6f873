"""Bundle promotions' pure rules: lines, longest match, counters in log order, price."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
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


def test_a_new_leg_costs_the_same_however_many_legs_its_counter_holds() -> None:
    line = bundles.Line("1209", 1000)
    made = bundles.Bundle(uuid4(), 2, "monthly", (line,))
    counters, account = bundles.Counters(), uuid4()
    start = datetime(2026, 10, 1, tzinfo=UTC)
    legs = [uuid4() for _ in range(50_000)]
    began = time.perf_counter()
    for n, leg in enumerate(legs):
        at = start + timedelta(seconds=n)
        counters.cover(account, made, line, at, "UTC", leg, 60)
    took = time.perf_counter() - began
    assert took < 5, f"50k legs in one counter took {took:.1f} s"  # was ~2 min (quadratic)
    last = counters.cover(account, made, line, start, "UTC", uuid4(), 60)
    assert last == bundles.Coverage(0, 0)
    # leg 999, rated again with fewer seconds, keeps its place; the one after it gets more
    redo = counters.cover(account, made, line, start, "UTC", legs[999], 30)
    assert redo == bundles.Coverage(30, 30)
    after = counters.cover(account, made, line, start, "UTC", legs[1000], 60)
    assert after == bundles.Coverage(30, 0)


def test_the_covered_seconds_are_discounted_and_the_connection_fee_is_not() -> None:
    rate = Rate("1209", Decimal("0.60"), 1, 1, connection_fee=Decimal("0.05"))
    assert bundles.price(rate, 120, 60, 50, "peak") == Decimal("0.05") + Decimal("0.60") + Decimal(
        "0.30"
    )
    assert bundles.price(rate, 120, 0, 50, "peak") == Decimal("1.25")
    assert bundles.price(rate, 60, 60, 100, "peak") == Decimal("0.05")


def test_off_peak_calls_are_discounted_from_the_off_peak_price() -> None:
    rate = Rate("1209", Decimal("0.60"), 1, 1, off_peak_price_per_minute=Decimal("0.20"))
    assert bundles.price(rate, 120, 60, 50, "off_peak") == Decimal("0.20") + Decimal("0.10")
    assert bundles.price(rate, 120, 60, 50, "peak") == Decimal("0.60") + Decimal("0.30")


def test_a_recorded_bundle_is_rated_as_recorded_even_past_todays_limits() -> None:
    from domain.billing.aggregates import BundlePromotion
    from domain.billing.catalogue import Catalogue
    from domain.shared.actor import Actor, CommandContext, acting_as

    # recorded when the limit was higher: checking it again would refuse it forever
    big = {"prefix": "1209", "minutes": bundles.MAX_MINUTES + 1, "discount_percent": 50}
    with pytest.raises(InvalidValueError):
        bundles.parse_line(big)
    with acting_as(CommandContext(Actor.system("test"))):
        made = BundlePromotion(name="big", precision=2, period="monthly", included=[big])
    catalogue = Catalogue()
    for event in made.collect_events():
        catalogue.apply(event)
    assert catalogue.bundles[made.id].lines == (bundles.Line("1209", bundles.MAX_MINUTES + 1, 50),)
