"""Every rounding of money happens here, and only at two points (seed 000):

1. each xDR's amount, once, at its entity's precision (the tariff's for calls, the class's
   usage precision for measured services) with the customer class's method;
2. invoice totals and taxes, once, at the class's invoice precision (billing, part 2).

Nothing else rounds: intermediate sums keep every digit `Decimal` gives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from enum import StrEnum

from domain.shared.errors import InvalidValueError

MIN_PRECISION, MAX_PRECISION = 0, 6


class Rounding(StrEnum):
    """How a customer class rounds: symmetric for negatives in every method."""

    AWAY_FROM_ZERO = "away_from_zero"  # 1.214 -> 1.22, -1.214 -> -1.22
    HALF_AWAY_FROM_ZERO = "half_away_from_zero"  # 1.214 -> 1.21, 1.215 -> 1.22
    MALAYSIAN = "malaysian"  # last digit 0-2 -> 0, 3-7 -> 5, 8-9 -> 0 and carry


def rounding(value: str) -> Rounding:
    try:
        return Rounding(value)
    except ValueError:
        known = ", ".join(r.value for r in Rounding)
        raise InvalidValueError(f"rounding {value!r} is not one of {known}") from None


def precision(value: int, what: str = "precision") -> int:
    """A number of decimals, 0 to 6."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError(f"{what} must be a whole number of decimals")
    if not MIN_PRECISION <= value <= MAX_PRECISION:
        raise InvalidValueError(f"{what} must be {MIN_PRECISION} to {MAX_PRECISION}, not {value}")
    return value


def round_amount(amount: Decimal, method: Rounding, places: int) -> Decimal:
    """`amount` rounded to `places` decimals by `method`; the sign never changes the result
    but for its sign (round(-x) == -round(x))."""
    quantum = Decimal(1).scaleb(-places)
    magnitude = abs(amount)
    if method is Rounding.AWAY_FROM_ZERO:
        result = magnitude.quantize(quantum, ROUND_UP)
    elif method is Rounding.HALF_AWAY_FROM_ZERO:
        result = magnitude.quantize(quantum, ROUND_HALF_UP)
    else:
        result = _malaysian(magnitude, quantum, places)
    if result == 0:
        return result.copy_abs()  # never -0.00
    return result.copy_sign(amount)


def _malaysian(magnitude: Decimal, quantum: Decimal, places: int) -> Decimal:
    """The digit at the precision point (digits past it are dropped) snaps to 0 or 5."""
    kept = magnitude.quantize(quantum, ROUND_DOWN)
    last = int(kept.scaleb(places)) % 10
    if last <= 2:
        step = -last
    elif last <= 7:
        step = 5 - last
    else:
        step = 10 - last
    return (kept + step * quantum).quantize(quantum)


@dataclass(frozen=True)
class RoundingRule:
    """A method and a precision: the whole of what rounding an amount needs."""

    method: Rounding
    places: int

    def __call__(self, amount: Decimal) -> Decimal:
        return round_amount(amount, self.method, self.places)


#: A customer without a class: away from zero, 2 decimals for invoices and usage.
DEFAULT_METHOD = Rounding.AWAY_FROM_ZERO
DEFAULT_PRECISION = 2
