"""Recurring fee rules: periods, proration by whole local days, adjustments, credits."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from domain.billing import fees
from domain.billing.rounding import Rounding, RoundingRule

RULE = RoundingRule(Rounding.AWAY_FROM_ZERO, 2)


def term(fee: str = "30", period: str = "monthly", **more: object) -> fees.Term:
    plan = fees.Plan(
        Decimal(fee),
        period,
        str(more.pop("charged", fees.IN_ADVANCE)),
        bool(more.pop("prorate", True)),
        fees.AT_START,
        2,
        tuple(more.pop("conditions", fees.CONDITIONS)),  # type: ignore[arg-type]
    )
    start = more.pop("start", datetime(2026, 11, 1, tzinfo=UTC))
    zone = str(more.pop("zone", "UTC"))
    return fees.Term(uuid4(), plan, zone, start, more.pop("end", None), **more)  # type: ignore[arg-type]


def amounts(charges: list[fees.Charge]) -> list[str]:
    return [str(c.amount) for c in charges]


def test_periods_are_months_iso_weeks_and_days() -> None:
    assert fees.period_of(date(2028, 2, 10), "monthly") == (date(2028, 2, 1), date(2028, 3, 1))
    assert fees.period_of(date(2026, 11, 4), "weekly") == (date(2026, 11, 2), date(2026, 11, 9))
    assert fees.period_of(date(2026, 11, 4), "daily") == (date(2026, 11, 4), date(2026, 11, 5))


def test_a_leap_february_prorates_over_29_days() -> None:
    started = term("29", start=datetime(2028, 2, 20, tzinfo=UTC))
    assert amounts(fees.due(started, datetime(2028, 2, 20, tzinfo=UTC), RULE)) == ["10.00"]


def test_without_proration_a_started_period_costs_the_whole_fee() -> None:
    started = term(start=datetime(2026, 11, 20, tzinfo=UTC), prorate=False)
    assert amounts(fees.due(started, datetime(2026, 11, 20, tzinfo=UTC), RULE)) == ["30.00"]


def test_in_arrears_a_period_is_charged_once_it_is_over() -> None:
    monthly = term(charged=fees.IN_ARREARS)
    assert fees.due(monthly, datetime(2026, 11, 30, 23, tzinfo=UTC), RULE) == []
    assert amounts(fees.due(monthly, datetime(2026, 12, 1, tzinfo=UTC), RULE)) == ["30.00"]


def test_a_month_across_a_dst_change_is_one_period_in_the_customers_zone() -> None:
    paris = term(zone="Europe/Paris", start=datetime(2026, 9, 30, 22, tzinfo=UTC))
    (october,) = fees.due(paris, datetime(2026, 10, 2, tzinfo=UTC), RULE)
    assert october.start == datetime(2026, 9, 30, 22, tzinfo=UTC)  # 1 October, 00:00 CEST
    assert october.end == datetime(2026, 10, 31, 23, tzinfo=UTC)  # 1 November, 00:00 CET
    assert october.amount == Decimal("30.00") and october.days == 31


@pytest.mark.parametrize(
    ("kind", "value", "fee"),
    [
        ("relative_discount", "100", "0"),
        ("relative_discount", "25", "15"),
        ("relative_upcharge", "50", "30"),
        ("fixed_discount", "5", "15"),
        ("fixed_upcharge", "5", "25"),
    ],
)
def test_adjustments(kind: str, value: str, fee: str) -> None:
    adjusted = fees.check_adjustment(kind, Decimal(value), Decimal(20), False, 1)
    assert adjusted.apply(Decimal(20)) == Decimal(fee)


@pytest.mark.parametrize(
    ("kind", "value", "progressive", "months"),
    [
        ("fixed_discount", "1", True, 1),
        ("fixed_upcharge", "1", True, 1),
        ("relative_upcharge", "1", False, 3),
        ("fixed_discount", "21", False, 1),
        ("relative_discount", "101", False, 1),
        ("relative_discount", "-1", False, 1),
        ("waive", "1", False, 1),
    ],
)
def test_adjustments_refused(kind: str, value: str, progressive: bool, months: int) -> None:
    with pytest.raises(fees.AdjustmentError):
        fees.check_adjustment(kind, Decimal(value), Decimal(20), progressive, months)


def test_a_credit_needs_the_condition_all_day_in_the_customers_zone() -> None:
    tokyo = term(zone="Asia/Tokyo", start=datetime(2026, 10, 31, 15, tzinfo=UTC))
    outage = fees.Outage(
        "blocked", datetime(2026, 11, 9, 15, tzinfo=UTC), datetime(2026, 11, 11, 16, tzinfo=UTC)
    )
    charges = fees.due(tokyo, datetime(2026, 11, 20, tzinfo=UTC), RULE, [outage])
    credits = [c for c in charges if c.service == fees.CREDIT]
    # 10 and 11 November in Tokyo; the 12th had service from 01:00 on
    assert [c.key for c in credits] == ["credit:2026-11-10", "credit:2026-11-11"]
    assert amounts(credits) == ["-1.00", "-1.00"]


def test_a_condition_turned_off_gives_no_credit() -> None:
    panda = term(conditions=("expired", "blocked", "suspended"))
    outage = fees.Outage("no_funds", datetime(2026, 11, 3, tzinfo=UTC), None)
    charges = fees.due(panda, datetime(2026, 11, 20, tzinfo=UTC), RULE, [outage])
    assert [c.service for c in charges] == [fees.SUBSCRIPTION]


def test_charge_ids_are_the_same_every_time() -> None:
    monthly = term()
    first = fees.due(monthly, datetime(2026, 11, 5, tzinfo=UTC), RULE)
    again = fees.due(monthly, datetime(2026, 11, 25, tzinfo=UTC), RULE)
    assert [c.leg_id(monthly.id) for c in first] == [c.leg_id(monthly.id) for c in again]
