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


HALF = fees.Adjustment("relative_discount", Decimal(50))
DAY_11 = datetime(2026, 11, 11, 9, tzinfo=UTC)


def test_a_discount_from_day_11_in_advance_corrects_the_charged_month_by_minus_10() -> None:
    discounted = term(history=(fees.FeeChange(DAY_11, adjustment=HALF, adjusts=True),))
    charges = fees.due(discounted, datetime(2026, 11, 11, 10, tzinfo=UTC), RULE)
    keys = ["fee:2026-11-01", "change:2026-11-01:20261111T090000000000Z"]
    assert [c.key for c in charges] == keys
    assert amounts(charges) == ["30.00", "-10.00"]
    assert charges[1].days == 20 and charges[1].start == datetime(2026, 11, 11, tzinfo=UTC)
    assert fees.due(discounted, datetime(2026, 11, 10, tzinfo=UTC), RULE)[1:] == []
    december = fees.due(discounted, datetime(2026, 12, 1, tzinfo=UTC), RULE)
    assert amounts(december) == ["30.00", "-10.00", "15.00"]


def test_a_discount_from_day_11_in_arrears_charges_10_days_at_30_and_20_at_15() -> None:
    discounted = term(
        charged=fees.IN_ARREARS, history=(fees.FeeChange(DAY_11, adjustment=HALF, adjusts=True),)
    )
    (november,) = fees.due(discounted, datetime(2026, 12, 1, tzinfo=UTC), RULE)
    assert november.amount == Decimal("20.00") and november.days == 30
    assert november.detail.endswith("10 day(s) at 30.00, 20 day(s) at 15.00")


def test_a_plan_fee_raised_then_the_adjustment_removed_corrects_each_change() -> None:
    changes = (
        fees.FeeChange(datetime(2026, 11, 1, 8, tzinfo=UTC), adjustment=HALF, adjusts=True),
        fees.FeeChange(datetime(2026, 11, 16, tzinfo=UTC), fee=Decimal(60)),
        fees.FeeChange(datetime(2026, 11, 21, 12, tzinfo=UTC), adjusts=True),
    )
    made = fees.due(term(history=changes), datetime(2026, 11, 25, tzinfo=UTC), RULE)
    # 30.00 charged at 00:00; half from the 1st (30 days), fee 60 (x0.5) from the 16th
    # (15 days), no discount from the 21st (10 days)
    assert amounts(made) == ["30.00", "-15.00", "7.50", "10.00"]


def test_a_stop_after_a_change_refunds_the_unused_days_at_the_changed_fee() -> None:
    changes = (fees.FeeChange(DAY_11, adjustment=HALF, adjusts=True),)
    stopped = term(history=changes, end=datetime(2026, 11, 20, 12, tzinfo=UTC))
    made = fees.due(stopped, datetime(2026, 11, 21, tzinfo=UTC), RULE)
    # 20 days charged: 10 at 30, 10 at 15 = 15.00
    assert amounts(made) == ["30.00", "-10.00", "-5.00"]
    assert sum(c.amount for c in made) == Decimal("15.00")


def test_a_change_after_the_stop_or_without_proration_corrects_nothing() -> None:
    late = (fees.FeeChange(datetime(2026, 11, 25, tzinfo=UTC), fee=Decimal(90)),)
    stopped = term(history=late, end=datetime(2026, 11, 20, tzinfo=UTC))
    assert amounts(fees.due(stopped, datetime(2026, 11, 26, tzinfo=UTC), RULE)) == [
        "30.00",
        "-11.00",
    ]
    whole = term(history=late, prorate=False)
    assert amounts(fees.due(whole, datetime(2026, 12, 2, tzinfo=UTC), RULE)) == [
        "30.00",
        "90.00",
    ]


def test_a_fixed_discount_larger_than_a_lowered_fee_charges_zero_never_negative() -> None:
    changes = (
        fees.FeeChange(
            datetime(2026, 11, 1, tzinfo=UTC),
            adjustment=fees.Adjustment("fixed_discount", Decimal(20)),
            adjusts=True,
        ),
    )
    cheap = term(history=(*changes, fees.FeeChange(DAY_11, fee=Decimal(10))))
    made = fees.due(cheap, datetime(2026, 12, 1, tzinfo=UTC), RULE)
    assert amounts(made) == ["10.00", "-6.67", "0.00"]


def prepaid(**more: object) -> fees.Term:
    base = term("90", start=datetime(2026, 11, 16, tzinfo=UTC), **more)
    return fees.Term(
        base.id,
        fees.Plan(**{**base.plan.__dict__, "prepaid_months": 3}),
        base.zone,
        base.start,
        base.end,
        base.adjustment,
        base.history,
    )


def test_a_three_month_prepaid_plan_is_charged_once_per_term_in_advance() -> None:
    quarter = prepaid()
    (first,) = fees.due(quarter, datetime(2026, 11, 16, tzinfo=UTC), RULE)
    # November to January: 92 days; from the 16th, 77 of them
    assert (first.days, first.period_days, first.amount) == (77, 92, Decimal("75.33"))
    assert fees.due(quarter, datetime(2027, 1, 31, tzinfo=UTC), RULE) == [first]
    later = fees.due(quarter, datetime(2027, 2, 1, tzinfo=UTC), RULE)
    assert [c.key for c in later] == ["fee:2026-11-01", "fee:2027-02-01"]
    assert later[1].amount == Decimal("90.00") and later[1].period_days == 89


def test_a_prepaid_term_is_not_refunded_on_stop_nor_corrected_by_a_fee_change() -> None:
    raised = (fees.FeeChange(datetime(2026, 12, 5, tzinfo=UTC), fee=Decimal(120)),)
    quarter = prepaid(history=raised, end=datetime(2026, 12, 20, tzinfo=UTC))
    made = fees.due(quarter, datetime(2027, 3, 1, tzinfo=UTC), RULE)
    assert amounts(made) == ["75.33"]
    running = prepaid(history=raised)
    assert amounts(fees.due(running, datetime(2027, 2, 1, tzinfo=UTC), RULE)) == [
        "75.33",
        "120.00",
    ]


def test_credits_use_the_fee_of_their_day() -> None:
    changes = (fees.FeeChange(DAY_11, adjustment=HALF, adjusts=True),)
    outage = fees.Outage(
        "blocked", datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 12, tzinfo=UTC)
    )
    made = fees.due(term(history=changes), datetime(2026, 11, 20, tzinfo=UTC), RULE, [outage])
    assert [(c.key, str(c.amount)) for c in made if c.service == fees.CREDIT] == [
        ("credit:2026-11-10", "-1.00"),
        ("credit:2026-11-11", "-0.50"),
    ]
