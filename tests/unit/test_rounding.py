"""Rounding (seed 000): every worked example, and properties for every method."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.billing.rounding import Rounding, RoundingRule, precision, round_amount
from domain.shared.errors import InvalidValueError

AWAY, HALF, MALAYSIAN = Rounding.AWAY_FROM_ZERO, Rounding.HALF_AWAY_FROM_ZERO, Rounding.MALAYSIAN

SEED_EXAMPLES = [
    # Away from zero: 1.214, 1.215 and 1.216 all round up to 1.22; negatives symmetric.
    (AWAY, "1.214", "1.22"),
    (AWAY, "1.215", "1.22"),
    (AWAY, "1.216", "1.22"),
    (AWAY, "-1.214", "-1.22"),
    (AWAY, "-1.215", "-1.22"),
    (AWAY, "-1.216", "-1.22"),
    # Half away from zero: 1.214 -> 1.21; 1.215 and 1.216 -> 1.22; negatives symmetric.
    (HALF, "1.214", "1.21"),
    (HALF, "1.215", "1.22"),
    (HALF, "1.216", "1.22"),
    (HALF, "-1.214", "-1.21"),
    (HALF, "-1.215", "-1.22"),
    (HALF, "-1.216", "-1.22"),
    # Malaysian: last digit 0-2 -> 0; 3-7 -> 5; 8-9 -> 0 and the previous digit + 1.
    (MALAYSIAN, "1.204", "1.20"),
    (MALAYSIAN, "1.215", "1.20"),
    (MALAYSIAN, "1.226", "1.20"),
    (MALAYSIAN, "1.234", "1.25"),
    (MALAYSIAN, "1.255", "1.25"),
    (MALAYSIAN, "1.276", "1.25"),
    (MALAYSIAN, "1.284", "1.30"),
    (MALAYSIAN, "1.296", "1.30"),
    # ... and symmetric too (the issue: "Malaysian is symmetric too").
    (MALAYSIAN, "-1.226", "-1.20"),
    (MALAYSIAN, "-1.234", "-1.25"),
    (MALAYSIAN, "-1.296", "-1.30"),
]


@pytest.mark.parametrize(("method", "amount", "expected"), SEED_EXAMPLES)
def test_every_worked_example_of_seed_000_at_two_decimals(
    method: Rounding, amount: str, expected: str
) -> None:
    result = round_amount(Decimal(amount), method, 2)
    assert str(result) == expected


def test_a_rounded_amount_has_exactly_its_precision_of_decimals() -> None:
    assert str(round_amount(Decimal("1.2"), AWAY, 2)) == "1.20"
    assert str(round_amount(Decimal("7"), HALF, 4)) == "7.0000"
    assert str(round_amount(Decimal("0.0000001"), AWAY, 6)) == "0.000001"
    assert str(round_amount(Decimal("17.3"), MALAYSIAN, 0)) == "15"


def test_nothing_rounds_to_negative_zero() -> None:
    assert str(round_amount(Decimal("-0.001"), HALF, 2)) == "0.00"
    assert str(round_amount(Decimal("-0.011"), MALAYSIAN, 2)) == "0.00"


@pytest.mark.parametrize("bad", [-1, 7, 100])
def test_precision_outside_0_to_6_is_refused(bad: int) -> None:
    with pytest.raises(InvalidValueError):
        precision(bad)


def test_the_rule_a_customer_without_a_class_gets_is_away_from_zero_at_2() -> None:
    from domain.billing.rounding import DEFAULT_METHOD, DEFAULT_PRECISION

    rule = RoundingRule(DEFAULT_METHOD, DEFAULT_PRECISION)
    assert str(rule(Decimal("-1.215"))) == "-1.22"


amounts = st.decimals(
    min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=8, allow_nan=False
)
places = st.integers(min_value=0, max_value=6)
methods = st.sampled_from(list(Rounding))


@given(amounts, methods, places)
def test_negatives_round_symmetrically(amount: Decimal, method: Rounding, p: int) -> None:
    assert round_amount(-amount, method, p) == -round_amount(amount, method, p)


@given(amounts, methods, places)
def test_rounding_twice_changes_nothing(amount: Decimal, method: Rounding, p: int) -> None:
    once = round_amount(amount, method, p)
    assert round_amount(once, method, p) == once


@given(amounts, places)
def test_away_from_zero_never_lowers_a_magnitude_and_moves_less_than_one_unit(
    amount: Decimal, p: int
) -> None:
    result = round_amount(amount, AWAY, p)
    unit = Decimal(1).scaleb(-p)
    assert abs(result) >= abs(amount)
    assert abs(result) - abs(amount) < unit


@given(amounts, places)
def test_half_away_from_zero_moves_at_most_half_a_unit(amount: Decimal, p: int) -> None:
    result = round_amount(amount, HALF, p)
    assert abs(result - amount) <= Decimal(1).scaleb(-p) / 2


@given(amounts, places)
def test_malaysian_lands_on_a_multiple_of_five_units_within_three_units(
    amount: Decimal, p: int
) -> None:
    result = round_amount(amount, MALAYSIAN, p)
    unit = Decimal(1).scaleb(-p)
    assert result % (5 * unit) == 0
    assert abs(result - amount) < 3 * unit


@given(amounts, methods, places)
def test_the_result_has_the_precision_asked(amount: Decimal, method: Rounding, p: int) -> None:
    assert round_amount(amount, method, p).as_tuple().exponent == -p
