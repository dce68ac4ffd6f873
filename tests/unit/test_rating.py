"""Rating rules (pure): intervals, free seconds, longest prefix, access codes, effective
dates, peak periods in the customer's zone (DST, leap day, midnight, boundaries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest

from domain.billing import rating
from domain.billing.catalogue import Catalogue, ClassRule, Party, TariffState
from domain.billing.rating import Rate, RateTable, billed_seconds, parse_rate
from domain.billing.rounding import Rounding
from domain.shared.errors import InvalidValueError
from domain.shared.owners import Owner


def a_rate(**fields: Any) -> Rate:
    raw = {"prefix": "44", "price_per_minute": "0.60", "first_interval": 60, "next_interval": 60}
    return parse_rate({**raw, **fields})


def test_thirty_six_bills_95_seconds_as_96() -> None:
    assert billed_seconds(95, a_rate(first_interval=30, next_interval=6)) == 96


def test_ten_free_seconds_with_sixty_sixty_bill_65_seconds_as_60() -> None:
    assert billed_seconds(65, a_rate(free_seconds=10)) == 60


@pytest.mark.parametrize(
    ("seconds", "first", "nxt", "free", "billed"),
    [
        (1, 60, 60, 0, 60),
        (60, 60, 60, 0, 60),
        (61, 60, 60, 0, 120),
        (61, 1, 1, 0, 61),
        (10, 60, 60, 10, 0),  # within the free seconds: free
        (0, 30, 6, 0, 0),
        (31, 30, 6, 0, 36),
    ],
)
def test_intervals(seconds: int, first: int, nxt: int, free: int, billed: int) -> None:
    rate = a_rate(first_interval=first, next_interval=nxt, free_seconds=free)
    assert billed_seconds(seconds, rate) == billed


def test_the_longest_matching_prefix_wins() -> None:
    table = RateTable([a_rate(prefix="4"), a_rate(prefix="44"), a_rate(prefix="4420")])
    now = datetime(2026, 10, 5, tzinfo=UTC)
    assert table.find("442071234567", "outgoing", now).prefix == "4420"  # type: ignore[union-attr]
    assert table.find("4431", "outgoing", now).prefix == "44"  # type: ignore[union-attr]
    assert table.find("33123", "outgoing", now) is None


def test_incoming_calls_match_only_incoming_rates() -> None:
    table = RateTable([a_rate(prefix="44"), a_rate(prefix="4420", access_code="incoming")])
    now = datetime(2026, 10, 5, tzinfo=UTC)
    assert table.find("44207", "incoming", now).prefix == "4420"  # type: ignore[union-attr]
    assert table.find("44207", "outgoing", now).prefix == "44"  # type: ignore[union-attr]
    assert table.find("3312", "incoming", now) is None


def test_a_rate_applies_from_its_effective_date_and_a_rate_without_one_always() -> None:
    change = datetime(2028, 2, 29, tzinfo=UTC)  # a leap day
    old = a_rate(price_per_minute="0.10", effective_to=change.isoformat())
    new = a_rate(price_per_minute="0.20", effective_from=change.isoformat())
    table = RateTable([old, new])
    before = table.find("44", "outgoing", change - timedelta(seconds=1))
    on_the_day = table.find("44", "outgoing", change + timedelta(hours=12))
    assert before is old and on_the_day is new
    assert RateTable([a_rate()]).find("44", "outgoing", datetime(1970, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "bad",
    [
        {"first_interval": -1},
        {"next_interval": 0},
        {"free_seconds": -5},
        {"prefix": "44a"},
        {"prefix": "+44"},
        {"prefix": ""},
        {"price_per_minute": 0.6},
        {"price_per_minute": "-0.6"},
        {"price_per_minute": "1e3"},
        {"access_code": "both"},
        {"effective_from": "2026-10-01T00:00:00"},  # no offset
        {
            "effective_from": "2026-10-02T00:00:00+00:00",
            "effective_to": "2026-10-01T00:00:00+00:00",
        },
    ],
)
def test_bad_rates_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueError):
        a_rate(**bad)


def test_overlapping_effective_dates_are_refused_touching_ones_are_not() -> None:
    first = a_rate(effective_to="2026-11-01T00:00:00+00:00")
    current = {first.key: first}
    with pytest.raises(InvalidValueError, match="overlap"):
        rating.merge_rates(current, [a_rate(effective_from="2026-10-15T00:00:00+00:00")])
    with pytest.raises(InvalidValueError, match="overlap"):
        rating.merge_rates({}, [a_rate(), a_rate(effective_from="2026-10-15T00:00:00+00:00")])
    rating.merge_rates(current, [a_rate(effective_from="2026-11-01T00:00:00+00:00")])
    rating.merge_rates(current, [a_rate(effective_to="2026-12-01T00:00:00+00:00")])  # replaces
    rating.merge_rates(current, [a_rate(access_code="incoming")])


# -- the catalogue rates a finished leg ---------------------------------------------------
PEAK = rating.parse_peak_period(
    {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "18:00"}
)


def catalogue(zone: str = "UTC", **rate_fields: Any) -> tuple[Catalogue, Any]:
    book = Catalogue()
    customer, account, tariff, product = uuid4(), uuid4(), uuid4(), uuid4()
    book.customers[customer] = Party(zone, "EUR")
    book.tariffs[tariff] = TariffState("EUR", 2, [PEAK])
    fields = {"off_peak_price_per_minute": "0.30", **rate_fields}
    book.tariffs[tariff].table.add(a_rate(**fields))
    book.product_kinds[product] = "main"
    book.product_tariffs[product] = tariff
    book.account_products[account] = [product]
    return book, SimpleNamespace(customer=customer, account=account)


def leg(ids: Any, connect: datetime, seconds: int, cld: str = "4420") -> Any:
    return SimpleNamespace(
        leg_id=uuid4(),
        owners=[Owner(None, ids.customer, ids.account)],
        account_id=ids.account,
        service="voice",
        direction="outgoing",
        access_code="outgoing",
        cli="1",
        cld=cld,
        connect_time=connect,
        disconnect_time=connect + timedelta(seconds=seconds),
        tracking_id=None,
        previous_tracking_id=None,
        quantity=None,
        unit=None,
    )


def test_a_call_across_the_peak_boundary_is_rated_at_its_connect_time_period() -> None:
    book, ids = catalogue()
    (xdr,) = book.rate(leg(ids, datetime(2026, 10, 5, 17, 50, tzinfo=UTC), 3600))  # Monday
    assert xdr["period"] == "peak" and xdr["amount"] == Decimal("36.00")
    (xdr,) = book.rate(leg(ids, datetime(2026, 10, 5, 7, 30, tzinfo=UTC), 3600))
    assert xdr["period"] == "off_peak" and xdr["amount"] == Decimal("18.00")


def test_peak_hours_are_the_customers_own_across_a_dst_change() -> None:
    book, ids = catalogue("Europe/Paris")
    # 06:30 UTC is 07:30 in Paris on Friday 27 March 2026 (CET, before the change) ...
    (winter,) = book.rate(leg(ids, datetime(2026, 3, 27, 6, 30, tzinfo=UTC), 60))
    # ... and 08:30 on Monday 30 March, once clocks went forward (CEST).
    (summer,) = book.rate(leg(ids, datetime(2026, 3, 30, 6, 30, tzinfo=UTC), 60))
    assert winter["period"] == "off_peak"
    assert summer["period"] == "peak"


def test_a_call_spanning_midnight_at_a_rate_change_keeps_the_connect_time_rate() -> None:
    book, ids = catalogue()
    tariff = next(iter(book.tariffs.values()))
    midnight = datetime(2026, 11, 1, tzinfo=UTC)
    tariff.table = RateTable(
        [
            a_rate(price_per_minute="0.10", effective_to=midnight.isoformat()),
            a_rate(price_per_minute="0.90", effective_from=midnight.isoformat()),
        ]
    )
    (xdr,) = book.rate(leg(ids, midnight - timedelta(minutes=5), 600))
    assert xdr["rate"]["price_per_minute"] == "0.10"
    assert xdr["amount"] == Decimal("1.00")


def test_an_unknown_destination_is_unrated_with_a_reason_never_a_silent_zero() -> None:
    book, ids = catalogue()
    (xdr,) = book.rate(leg(ids, datetime(2026, 10, 5, 9, tzinfo=UTC), 60, cld="3312345"))
    assert xdr["status"] == "unrated"
    assert xdr["amount"] is None
    assert "3312345" in xdr["reason"]


def test_the_class_method_rounds_the_call_at_the_tariffs_precision() -> None:
    book, ids = catalogue(price_per_minute="1.226")
    klass = uuid4()
    book.classes[klass] = ClassRule(Rounding.MALAYSIAN, 4)
    book.customers[ids.customer].class_id = klass
    (xdr,) = book.rate(leg(ids, datetime(2026, 10, 5, 9, tzinfo=UTC), 60))
    assert xdr["amount"] == Decimal("1.20")  # tariff precision 2, not the class's usage 4
    assert (xdr["rounding"], xdr["precision"]) == ("malaysian", 2)


def test_a_leg_that_never_connected_bills_nothing() -> None:
    book, ids = catalogue()
    unanswered = leg(ids, datetime(2026, 10, 5, 9, tzinfo=UTC), 0)
    unanswered.connect_time = None
    assert book.rate(unanswered) == []
