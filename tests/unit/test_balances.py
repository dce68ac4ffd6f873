"""Customers' funds, pure: balance, available funds, no funds, terms, amounts, ids."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from domain.billing.balances import (
    POSTPAID,
    PREPAID,
    UNSET,
    Funds,
    amount,
    no_funds_outage_id,
    payment_id,
    terms,
)
from domain.shared.errors import InvalidValueError


def test_a_prepaid_customer_runs_out_when_its_charges_pass_its_payments() -> None:
    funds = Funds(PREPAID, Decimal(0)).paid(Decimal("10.00")).charged(Decimal("9.99"))
    assert (funds.balance, funds.available, funds.no_funds) == (
        Decimal("0.01"),
        Decimal("0.01"),
        False,
    )
    assert funds.charged(Decimal("0.01")).no_funds is False  # exactly zero: still funded
    assert funds.charged(Decimal("0.02")).no_funds is True


def test_a_postpaid_customer_without_a_limit_is_never_out_of_funds() -> None:
    funds = Funds().charged(Decimal("1000000"))
    assert (funds.balance, funds.available, funds.no_funds) == (Decimal(-1000000), None, False)


def test_a_credit_limit_is_how_far_below_zero_the_balance_may_go() -> None:
    funds = Funds(POSTPAID, Decimal("50")).charged(Decimal("50"))
    assert (funds.available, funds.no_funds) == (Decimal(0), False)
    assert funds.charged(Decimal("0.001")).no_funds is True
    assert funds.on_terms(POSTPAID, None).no_funds is False


def test_a_credit_correction_counts_in_decimals_exactly() -> None:
    funds = Funds(PREPAID, Decimal(0)).paid(Decimal("0.3"))
    for charge in ("0.1", "0.1", "0.1"):
        funds = funds.charged(Decimal(charge))
    assert funds.balance == Decimal(0) and not funds.no_funds


def test_a_new_mode_without_a_limit_takes_that_modes_default() -> None:
    assert terms((POSTPAID, None), PREPAID) == (PREPAID, Decimal(0))
    assert terms((PREPAID, Decimal(0)), POSTPAID) == (POSTPAID, None)
    assert terms((POSTPAID, Decimal(5)), None) == (POSTPAID, Decimal(5))
    assert terms((POSTPAID, None), None, "150.00") == (POSTPAID, Decimal("150.00"))
    assert terms((PREPAID, Decimal(0)), None, "20") == (PREPAID, Decimal(20))
    assert terms((POSTPAID, Decimal(5)), None, None) == (POSTPAID, None)
    assert terms((POSTPAID, None), None, UNSET) == (POSTPAID, None)


@pytest.mark.parametrize(
    ("mode", "limit"), [(PREPAID, None), ("barter", UNSET), (None, "-1"), (None, "abc"), (None, 5)]
)
def test_bad_terms_are_refused(mode: str | None, limit: object) -> None:
    with pytest.raises(InvalidValueError):
        terms((POSTPAID, None), mode, limit)


@pytest.mark.parametrize(
    "value", ["abc", "0", "0.00", "-1", "1e3", 12.5, 12, None, "1.12345678901"]
)
def test_an_amount_is_a_positive_decimal_string(value: object) -> None:
    with pytest.raises(InvalidValueError):
        amount(value)


def test_an_amount_keeps_its_digits() -> None:
    assert str(amount("20.10")) == "20.10"


def test_ids_are_deterministic() -> None:
    customer = uuid4()
    assert payment_id(customer, "bank-1") == payment_id(customer, "bank-1")
    assert payment_id(customer, "bank-1") != payment_id(uuid4(), "bank-1")
    assert no_funds_outage_id(customer, 7) == no_funds_outage_id(customer, 7)
    assert no_funds_outage_id(customer, 7) != no_funds_outage_id(customer, 8)
