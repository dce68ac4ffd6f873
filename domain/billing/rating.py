"""Rating rules: which rate applies to a leg, and what it costs (pure, no I/O).

- The rate is the one with the longest prefix of the called number among the rates for the
  leg's access code (outgoing or incoming) in force at the connect time.
- The whole call is rated at that rate and at the period (peak or off-peak) in force at its
  connect time, in the customer's zone, even when it spans a boundary or midnight.
- Free seconds come off the duration first; then the first interval is charged whole and
  each next interval begun is charged whole (30/6 and 95 s -> 96 s; 60/60 with 10 free
  seconds and 65 s -> 60 s). A call within its free seconds costs nothing.
- amount = connection fee + price per minute x charged seconds / 60, rounded once by the
  caller (rounding.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.shared.errors import InvalidValueError

OUTGOING, INCOMING = "outgoing", "incoming"
ACCESS_CODES = (OUTGOING, INCOMING)
PEAK, OFF_PEAK = "peak", "off_peak"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_INTERVAL = 86_400
MAX_PRICE = Decimal("1000000")
_PREFIX = re.compile(r"^[0-9]{1,15}$")
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
_MONEY = re.compile(r"^[0-9]{1,7}(\.[0-9]{1,10})?$")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Rate:
    """One row of a tariff: the price of calls to numbers starting with `prefix`."""

    prefix: str
    price_per_minute: Decimal
    first_interval: int
    next_interval: int
    connection_fee: Decimal = ZERO
    free_seconds: int = 0
    off_peak_price_per_minute: Decimal | None = None
    access_code: str = OUTGOING
    effective_from: datetime | None = None
    effective_to: datetime | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """A rate change replaces the rate with the same key."""
        start = self.effective_from.isoformat() if self.effective_from else ""
        return (self.prefix, self.access_code, start)

    def in_force(self, at: datetime) -> bool:
        if self.effective_from is not None and at < self.effective_from:
            return False
        return self.effective_to is None or at < self.effective_to

    def overlaps(self, other: Rate) -> bool:
        """Whether both could apply to one call (same prefix and access code, dates meet)."""
        if (self.prefix, self.access_code) != (other.prefix, other.access_code):
            return False
        starts_before_other_ends = other.effective_to is None or (
            self.effective_from is None or self.effective_from < other.effective_to
        )
        other_starts_before_this_ends = self.effective_to is None or (
            other.effective_from is None or other.effective_from < self.effective_to
        )
        return starts_before_other_ends and other_starts_before_this_ends

    def as_dict(self) -> dict[str, Any]:
        """The rate as events and the API hold it: money as decimal strings."""
        return {
            "prefix": self.prefix,
            "price_per_minute": str(self.price_per_minute),
            "first_interval": self.first_interval,
            "next_interval": self.next_interval,
            "connection_fee": str(self.connection_fee),
            "free_seconds": self.free_seconds,
            "off_peak_price_per_minute": _text(self.off_peak_price_per_minute),
            "access_code": self.access_code,
            "effective_from": self.effective_from.isoformat() if self.effective_from else None,
            "effective_to": self.effective_to.isoformat() if self.effective_to else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rate:
        """A rate from an event (trusted: it was checked by `parse_rate` before)."""
        off_peak = data.get("off_peak_price_per_minute")
        return cls(
            prefix=data["prefix"],
            price_per_minute=Decimal(data["price_per_minute"]),
            first_interval=int(data["first_interval"]),
            next_interval=int(data["next_interval"]),
            connection_fee=Decimal(data.get("connection_fee") or "0"),
            free_seconds=int(data.get("free_seconds") or 0),
            off_peak_price_per_minute=Decimal(off_peak) if off_peak is not None else None,
            access_code=data.get("access_code") or OUTGOING,
            effective_from=_moment(data.get("effective_from")),
            effective_to=_moment(data.get("effective_to")),
        )


def _text(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def _moment(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def money(value: Any, what: str) -> Decimal:
    """A non-negative amount given as a decimal string (never a float)."""
    if not isinstance(value, str) or not _MONEY.match(value):
        raise InvalidValueError(f'{what} must be a decimal string such as "0.10", not {value!r}')
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise InvalidValueError(f"{what} is not a decimal number: {value!r}") from None
    if amount > MAX_PRICE:
        raise InvalidValueError(f"{what} is above {MAX_PRICE}")
    return amount


def _seconds(value: Any, what: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError(f"{what} must be a whole number of seconds")
    if not least <= value <= MAX_INTERVAL:
        raise InvalidValueError(f"{what} must be {least} to {MAX_INTERVAL} seconds, not {value}")
    return value


def _aware(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidValueError(f"{what} is not an ISO 8601 time: {value!r}") from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidValueError(f"{what} must carry a UTC offset, e.g. 2026-10-01T00:00:00+00:00")
    return value


def parse_rate(raw: Mapping[str, Any], where: str = "rate") -> Rate:
    """A rate as the API or a rate-table file gives it, checked field by field."""
    prefix = raw.get("prefix")
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise InvalidValueError(f"{where}: prefix {prefix!r} must be 1 to 15 digits (E.164)")
    access = raw.get("access_code") or OUTGOING
    if access not in ACCESS_CODES:
        raise InvalidValueError(f"{where}: access_code must be outgoing or incoming")
    off_peak = raw.get("off_peak_price_per_minute")
    rate = Rate(
        prefix=prefix,
        price_per_minute=money(raw.get("price_per_minute"), f"{where}: price_per_minute"),
        first_interval=_seconds(raw.get("first_interval"), f"{where}: first_interval", 1),
        next_interval=_seconds(raw.get("next_interval"), f"{where}: next_interval", 1),
        connection_fee=money(raw.get("connection_fee") or "0", f"{where}: connection_fee"),
        free_seconds=_seconds(raw.get("free_seconds") or 0, f"{where}: free_seconds", 0),
        off_peak_price_per_minute=(
            money(off_peak, f"{where}: off_peak_price_per_minute") if off_peak is not None else None
        ),
        access_code=access,
        effective_from=_aware(raw.get("effective_from"), f"{where}: effective_from"),
        effective_to=_aware(raw.get("effective_to"), f"{where}: effective_to"),
    )
    if (
        rate.effective_from is not None
        and rate.effective_to is not None
        and rate.effective_to <= rate.effective_from
    ):
        raise InvalidValueError(f"{where}: effective_to must be after effective_from")
    return rate


def merge_rates(current: Mapping[tuple[str, str, str], Rate], changes: Sequence[Rate]) -> None:
    """Refuse a change that leaves two rates of one prefix and access code in force at the
    same time (a rate with the same key is replaced, not overlapped)."""
    seen: dict[tuple[str, str, str], Rate] = {}
    for rate in changes:
        if rate.key in seen:
            raise InvalidValueError(
                f"prefix {rate.prefix} ({rate.access_code}) is given twice for the same start"
            )
        seen[rate.key] = rate
    by_prefix: dict[tuple[str, str], list[Rate]] = {}
    for key, rate in current.items():
        if key not in seen:
            by_prefix.setdefault((rate.prefix, rate.access_code), []).append(rate)
    for rate in changes:
        by_prefix.setdefault((rate.prefix, rate.access_code), []).append(rate)
    for rate in changes:
        others = by_prefix[(rate.prefix, rate.access_code)]
        for other in others:
            if other is not rate and rate.overlaps(other):
                raise InvalidValueError(
                    f"prefix {rate.prefix} ({rate.access_code}): effective dates overlap"
                    " another rate of the same prefix"
                )


@dataclass(frozen=True, slots=True)
class PeakPeriod:
    """Days of the week and a time of day (customer's zone) when peak prices apply."""

    days: frozenset[int]  # 0 = Monday
    start: time
    end: time | None  # None: until midnight ("24:00")

    def covers(self, local: datetime) -> bool:
        if local.weekday() not in self.days:
            return False
        moment = local.time().replace(tzinfo=None)
        return self.start <= moment and (self.end is None or moment < self.end)

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": [DAYS[d] for d in sorted(self.days)],
            "from": self.start.strftime("%H:%M"),
            "to": self.end.strftime("%H:%M") if self.end else "24:00",
        }


def parse_peak_period(raw: Mapping[str, Any]) -> PeakPeriod:
    days = raw.get("days")
    if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
        raise InvalidValueError(f"a peak period's days are some of {', '.join(DAYS)}")
    start, end = raw.get("from"), raw.get("to")
    for value in (start, end):
        if not isinstance(value, str) or not _CLOCK.match(value):
            raise InvalidValueError(f"a peak period runs from HH:MM to HH:MM, not {value!r}")
    assert isinstance(start, str) and isinstance(end, str)
    begins = time.fromisoformat(start) if start != "24:00" else None
    ends = time.fromisoformat(end) if end != "24:00" else None
    if begins is None or (ends is not None and ends <= begins):
        raise InvalidValueError(f"a peak period must end after it starts ({start}-{end})")
    return PeakPeriod(frozenset(DAYS.index(d) for d in days), begins, ends)


def period_at(local_connect: datetime, peaks: Sequence[PeakPeriod]) -> str:
    """Peak or off-peak at a local time; a tariff without peak periods is all peak."""
    if not peaks or any(p.covers(local_connect) for p in peaks):
        return PEAK
    return OFF_PEAK


class RateTable:
    """A tariff's rates indexed for the longest-prefix match: one dict lookup per prefix
    length of the called number (15 at most), whatever the number of prefixes."""

    def __init__(self, rates: Iterable[Rate] = ()) -> None:
        self._index: dict[tuple[str, str], list[Rate]] = {}
        self._longest = 0
        for rate in rates:
            self.add(rate)

    def add(self, rate: Rate) -> None:
        found = self._index.setdefault((rate.access_code, rate.prefix), [])
        found[:] = [r for r in found if r.key != rate.key] + [rate]
        self._longest = max(self._longest, len(rate.prefix))

    def __len__(self) -> int:
        return sum(len(r) for r in self._index.values())

    def find(self, number: str, access_code: str, at: datetime) -> Rate | None:
        index = self._index
        for length in range(min(len(number), self._longest), 0, -1):
            rates = index.get((access_code, number[:length]))
            if rates:
                for rate in rates:
                    if rate.in_force(at):
                        return rate
        return None


def billed_seconds(duration: int, rate: Rate) -> int:
    """The seconds charged: free seconds off first, then whole intervals."""
    billable = duration - rate.free_seconds
    if billable <= 0:
        return 0
    if billable <= rate.first_interval:
        return rate.first_interval
    rest = billable - rate.first_interval
    steps = -(-rest // rate.next_interval)
    return rate.first_interval + steps * rate.next_interval


def call_price(rate: Rate, charged: int, period: str) -> Decimal:
    """The unrounded price of `charged` seconds at `rate` in `period`."""
    if charged == 0:
        return ZERO
    return rate.connection_fee + per_minute(rate, period) * charged / 60


def per_minute(rate: Rate, period: str) -> Decimal:
    """The rate's price a minute in `period`: off-peak's when it has one, else peak's."""
    if period == OFF_PEAK and rate.off_peak_price_per_minute is not None:
        return rate.off_peak_price_per_minute
    return rate.price_per_minute


def unit_price(rate: Rate, quantity: Decimal) -> Decimal:
    """Measured services and DID charges: the rate's price is per unit."""
    return rate.connection_fee + rate.price_per_minute * quantity
