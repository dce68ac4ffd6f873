"""What was charged: a credit gives back the fee charged for its day's period, a charge
already made at another amount gets one fix for the difference, and a charge names the
plan's fee in force for it (pure rules of domain/billing/fees.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from domain.billing import fees
from domain.billing.rounding import Rounding, RoundingRule

RULE = RoundingRule(Rounding.AWAY_FROM_ZERO, 2)
NOV = datetime(2026, 11, 1, tzinfo=UTC)
RISE = fees.FeeChange(datetime(2026, 11, 11, 9, tzinfo=UTC), fee=Decimal("60"), key="plan2")
ZONE = ZoneInfo("UTC")


def term(charged: str = fees.IN_ADVANCE, prorate: bool = True, months: int = 1) -> fees.Term:
    fee = Decimal("90") if months > 1 else Decimal("30")
    plan = fees.Plan(fee, "monthly", charged, prorate, fees.AT_START, 2, prepaid_months=months)
    rise = replace(RISE, fee=fee * 2)
    return fees.Term(uuid4(), plan, "UTC", NOV, None, history=(rise,))


@pytest.mark.parametrize(
    ("made", "charged"),
    [
        (term(), "60"),  # prorated in advance: corrections make the 20th cost 60
        (term(fees.IN_ARREARS), "60"),  # prorated in arrears: each day at its own fee
        (term(prorate=False), "30"),  # charged once when November opened
        (term(fees.IN_ARREARS, prorate=False), "30"),  # in arrears too: the opening fee
        (term(months=3), "90"),  # a prepaid term: charged once, never corrected
    ],
    ids=["advance-prorated", "arrears-prorated", "advance", "arrears", "prepaid"],
)
def test_a_credit_gives_back_the_fee_charged_for_the_day(made: fees.Term, charged: str) -> None:
    assert fees.charged_fee(made, date(2026, 11, 20), ZONE) == Decimal(charged)
    outage = fees.Outage("suspended", datetime(2026, 11, 20, tzinfo=UTC), None)
    credits = [
        c
        for c in fees.due(made, datetime(2026, 11, 21, tzinfo=UTC), RULE, [outage])
        if c.service == fees.CREDIT
    ]
    (credit,) = credits
    assert credit.fee == Decimal(charged) and credit.plan_fee == Decimal(charged)


def test_a_charge_made_at_another_amount_gets_one_fix_for_the_difference() -> None:
    (fee,) = fees.due(term(), NOV, RULE)
    assert fees.fixes([fee], {}, 2) == []  # not charged yet: the charge itself is made
    assert fees.fixes([fee], {fee.key: fee.amount}, 2) == []  # charged as due
    (fix,) = fees.fixes([fee], {fee.key: Decimal("35.00")}, 2)
    assert fix.key == "fix:fee:2026-11-01:1:35" and fix.amount == Decimal("-5.00")
    assert fix.detail.startswith("fee 35.00 -> 30.00 for 2026-11-01 (charged at 35.00)")
    assert (fix.start, fix.end, fix.service) == (fee.start, fee.end, fee.service)
    # a further change: the charged total moved, so its fix has a key of its own
    (again,) = fees.fixes([fee], {fee.key: Decimal("32.50")}, 2, {fee.key: 1})
    assert again.key == "fix:fee:2026-11-01:2:32.5" and again.amount == Decimal("-2.50")
    assert fees.fix_key(fee.key, 1, Decimal("35.00")) == fees.fix_key(fee.key, 1, Decimal("35"))


def test_a_total_back_at_an_earlier_value_makes_a_new_link_not_a_loop() -> None:
    # charged 35, fixed to 30 (link 1), a stale charger fixed back to 35 (link 2): the
    # next fix is link 3, never link 1's key again (a chain walk following it would loop)
    (fee,) = fees.due(term(), NOV, RULE)
    (fix,) = fees.fixes([fee], {fee.key: Decimal("35.00")}, 2, {fee.key: 2})
    assert fix.key == "fix:fee:2026-11-01:3:35" and fix.amount == Decimal("-5.00")
    chain = {fees.fix_key(fee.key, n, Decimal("35")) for n in (1, 3)}
    assert len(chain) == 2


def test_a_charge_names_the_plans_fee_in_force_not_a_later_one() -> None:
    discounted = fees.Term(
        uuid4(),
        fees.Plan(Decimal("30"), "monthly", fees.IN_ADVANCE, True, fees.AT_START, 2),
        "UTC",
        NOV,
        None,
        fees.Adjustment("relative_discount", Decimal("50")),
        (fees.FeeChange(datetime(2026, 12, 1, tzinfo=UTC), fee=Decimal("20"), key="plan2"),),
    )
    november, december = fees.due(discounted, datetime(2026, 12, 1, tzinfo=UTC), RULE)
    assert (november.plan_fee, november.fee) == (Decimal("30"), Decimal("15"))
    assert (december.plan_fee, december.fee) == (Decimal("20"), Decimal("10"))
