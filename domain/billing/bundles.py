"""Bundle promotions (PortaBilling's volume discount plans): minutes included per period
to destination prefixes, free or at a discount (pure rules, no I/O).

- A voice leg of an account whose products carry a bundle promotion, to a destination an
  `included` line matches (longest prefix; outgoing legs only), is rated first against the
  seconds left in that line for the account in the bundle's period (monthly, weekly or
  daily, in the customer's zone) holding the leg's connect time.
- The tariff still decides the charged seconds; the covered ones are priced at
  (100 - discount_percent) % of the tariff's price, the rest at the full price; the
  connection fee is never discounted (it is not a minute).
- The counters count legs in log order per (account, bundle, line, period): the rater,
  a close, a replay and a reprocess build them from the same log, so they agree. A leg
  rated again (a reprocess) keeps its place in its counter: only its charged seconds are
  updated, and its coverage is what the legs before it left.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.billing import periods, rating
from domain.shared.errors import InvalidValueError

PERIODS = (periods.MONTHLY, periods.WEEKLY, periods.DAILY)
MAX_LINES = 1000
MAX_MINUTES = 1_000_000
_PREFIX = re.compile(r"^[0-9]{1,15}$")
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Line:
    """Minutes included to numbers starting with `prefix`, at `discount_percent` off."""

    prefix: str
    minutes: int
    discount_percent: int = 100

    @property
    def seconds(self) -> int:
        return self.minutes * 60

    def as_dict(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "minutes": self.minutes,
            "discount_percent": self.discount_percent,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Line:
        """A line as recorded (`as_dict`), not checked again: a limit tightened later must
        not make old events unratable (`parse_line` checks input)."""
        return cls(data["prefix"], data["minutes"], data.get("discount_percent", 100))


def _whole(value: Any, what: str, least: int, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError(f"{what} must be a whole number")
    if not least <= value <= most:
        raise InvalidValueError(f"{what} must be {least} to {most}, not {value}")
    return value


def parse_line(raw: Mapping[str, Any], where: str = "included") -> Line:
    prefix = raw.get("prefix")
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise InvalidValueError(f"{where}: prefix {prefix!r} must be 1 to 15 digits (E.164)")
    minutes = _whole(raw.get("minutes"), f"{where}: minutes", 1, MAX_MINUTES)
    discount = raw.get("discount_percent")
    discount = 100 if discount is None else discount
    return Line(prefix, minutes, _whole(discount, f"{where}: discount_percent", 0, 100))


def parse_lines(raw: Sequence[Mapping[str, Any]]) -> list[Line]:
    """The included lines, one a prefix, at least one."""
    if not raw:
        raise InvalidValueError("a bundle promotion includes at least one prefix")
    if len(raw) > MAX_LINES:
        raise InvalidValueError(f"a bundle promotion includes at most {MAX_LINES} prefixes")
    lines = [parse_line(r, f"included[{i}]") for i, r in enumerate(raw)]
    seen: set[str] = set()
    for line in lines:
        if line.prefix in seen:
            raise InvalidValueError(f"prefix {line.prefix} is included twice")
        seen.add(line.prefix)
    return lines


def check_period(kind: Any) -> str:
    if kind not in PERIODS:
        raise InvalidValueError(f"a bundle's period is {', '.join(PERIODS)}, not {kind!r}")
    return str(kind)


@dataclass(frozen=True)
class Bundle:
    id: UUID
    precision: int
    period: str
    lines: tuple[Line, ...]

    def line_for(self, number: str) -> Line | None:
        """The line with the longest prefix of the called number."""
        found: Line | None = None
        for line in self.lines:
            if number.startswith(line.prefix) and (
                found is None or len(line.prefix) > len(found.prefix)
            ):
                found = line
        return found


@dataclass(frozen=True)
class Coverage:
    covered_seconds: int
    left_seconds: int


@dataclass
class Counters:
    """Seconds charged per (account, bundle, line prefix, period id), leg by leg in log
    order (a leg counted again keeps its place)."""

    legs: dict[tuple[UUID, UUID, str, str], dict[UUID, int]] = field(default_factory=dict)
    # the sum of each counter's legs: a new leg (the usual case) costs O(1), not a walk
    totals: dict[tuple[UUID, UUID, str, str], int] = field(default_factory=dict)

    def cover(
        self,
        account_id: UUID,
        bundle: Bundle,
        line: Line,
        connect_time: datetime,
        time_zone: str,
        leg_id: UUID,
        charged: int,
    ) -> Coverage:
        period = periods.period_of(bundle.period, connect_time, time_zone)
        key = (account_id, bundle.id, line.prefix, period.id)
        counted = self.legs.setdefault(key, {})
        total = self.totals.get(key, 0)
        earlier = counted.get(leg_id)
        if earlier is None:  # a new leg comes after every counted one
            used = total
        else:  # a leg rated again (reprocess) keeps its place: walk to it
            used = 0
            for other, seconds in counted.items():  # dicts keep insertion (log) order
                if other == leg_id:
                    break
                used += seconds
        counted[leg_id] = charged
        self.totals[key] = total + charged - (earlier or 0)
        before = max(0, line.seconds - used)
        covered = min(charged, before)
        return Coverage(covered, before - covered)


def price(rate: rating.Rate, charged: int, covered: int, discount: int, period: str) -> Decimal:
    """The unrounded price of a call of `charged` seconds at the tariff's `rate`, `covered`
    of them at `discount` percent off (the connection fee is never discounted)."""
    if covered == 0:
        return rating.call_price(rate, charged, period)
    per_minute = rating.per_minute(rate, period)
    full = per_minute * (charged - covered) / 60
    discounted = per_minute * covered * (HUNDRED - discount) / (60 * HUNDRED)
    return rate.connection_fee + full + discounted
