"""Billing periods: `2026-10` (monthly), `2026-W41` (ISO weekly), `2026-10-05` (daily),
each from midnight to midnight in the customer's zone. Pure: ids, kinds and bounds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.shared.errors import ConflictError, InvalidValueError

MONTHLY, WEEKLY, DAILY = "monthly", "weekly", "daily"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@dataclass(frozen=True)
class Period:
    """One billing period of one zone: `[start, end)` in UTC."""

    id: str
    kind: str
    time_zone: str
    start: datetime
    end: datetime

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValueError(f"time zone {name!r} is unknown") from None


def _first_days(period_id: str) -> tuple[str, date, date]:
    try:
        if m := _MONTH.match(period_id):
            year, month = int(m[1]), int(m[2])
            first = date(year, month, 1)
            after = date(year + (month == 12), month % 12 + 1, 1)
            return MONTHLY, first, after
        if m := _WEEK.match(period_id):
            first = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            return WEEKLY, first, first + timedelta(days=7)
        if m := _DAY.match(period_id):
            first = date(int(m[1]), int(m[2]), int(m[3]))
            return DAILY, first, first + timedelta(days=1)
    except ValueError:
        pass
    raise InvalidValueError(
        f"period {period_id!r} is not a month (2026-10), an ISO week (2026-W41) or a day"
        " (2026-10-05)"
    )


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def parse(period_id: str, time_zone: str = "UTC") -> Period:
    """The period with that id in that zone (its length follows DST: 23 h, 25 h days)."""
    kind, first, after = _first_days(period_id)
    tz = zone(time_zone)
    return Period(period_id, kind, time_zone, _midnight(first, tz), _midnight(after, tz))


def period_of(kind: str, moment: datetime, time_zone: str = "UTC") -> Period:
    """The period of that kind holding `moment` in that zone."""
    if moment.tzinfo is None:
        raise InvalidValueError("a time needs a UTC offset")
    local = moment.astimezone(zone(time_zone)).date()
    if kind == MONTHLY:
        period_id = f"{local.year:04d}-{local.month:02d}"
    elif kind == WEEKLY:
        year, week, _ = local.isocalendar()
        period_id = f"{year:04d}-W{week:02d}"
    elif kind == DAILY:
        period_id = local.isoformat()
    else:
        raise InvalidValueError(f"billing period {kind!r} is monthly, weekly or daily")
    return parse(period_id, time_zone)


# -- a customer's (or reseller's) period kinds over time -----------------------------
#: `(effective_from, kind)` entries in time order; the first is in force from the start
#: (`None`). A change of kind takes effect where the period in progress ends.
Schedule = tuple[tuple[datetime | None, str], ...]
DEFAULT_SCHEDULE: Schedule = ((None, MONTHLY),)


class PeriodNotOverError(ConflictError):
    """The period has not ended yet: an invoice for it would miss the rest of its usage."""

    code = "period_not_over"


def require_over(period: Period, now: datetime) -> None:
    """A period closes only once it has ended (the closer also waits for the grace)."""
    if now < period.end:
        raise PeriodNotOverError(
            f"period {period.id} ends at {period.end.astimezone(UTC).isoformat()};"
            " it cannot be closed before its end"
        )


class PeriodKindError(InvalidValueError):
    """The period id is of another kind than the customer's (or reseller's) periods then."""

    code = "period_kind_mismatch"


def check_kind(kind: str) -> str:
    if kind not in (MONTHLY, WEEKLY, DAILY):
        raise InvalidValueError(f"billing_period is one of {MONTHLY}, {WEEKLY}, {DAILY}")
    return kind


def _spans(schedule: Schedule) -> list[tuple[datetime | None, datetime | None, str]]:
    return [
        (start, schedule[i + 1][0] if i + 1 < len(schedule) else None, kind)
        for i, (start, kind) in enumerate(schedule)
    ]


def _clip(period: Period, start: datetime | None, end: datetime | None) -> Period:
    low = period.start if start is None else max(period.start, start)
    high = period.end if end is None else min(period.end, end)
    return Period(period.id, period.kind, period.time_zone, low, high)


def kind_at(schedule: Schedule, moment: datetime) -> str:
    kind = schedule[0][1]
    for start, each in schedule:
        if start is None or start <= moment:
            kind = each
    return kind


def current(schedule: Schedule, moment: datetime, time_zone: str = "UTC") -> Period:
    """The period holding `moment`: of the kind in force then, clipped to its span (the
    first period after a change of kind starts where the last one of the old kind ended)."""
    for start, end, kind in _spans(schedule):
        if (start is None or start <= moment) and (end is None or moment < end):
            return _clip(period_of(kind, moment, time_zone), start, end)
    raise InvalidValueError("a billing schedule covers all times")  # never: spans tile time


def window(schedule: Schedule, period_id: str, time_zone: str = "UTC") -> Period:
    """The period with that id as the schedule bills it (clipped at a change of kind);
    refused when no part of it was billed by its kind."""
    period = parse(period_id, time_zone)
    for start, end, kind in _spans(schedule):
        if kind != period.kind:
            continue
        clipped = _clip(period, start, end)
        if clipped.start < clipped.end:
            return clipped
    kinds = " then ".join(kind for _, kind in schedule)
    raise PeriodKindError(f"{period_id} is a {period.kind} period; this party is billed {kinds}")


def previous(schedule: Schedule, moment: datetime, time_zone: str = "UTC") -> Period:
    """The last period that ended at or before the start of the one holding `moment`."""
    now = current(schedule, moment, time_zone)
    return current(schedule, now.start - timedelta(microseconds=1), time_zone)


def change(schedule: Schedule, kind: str, effective_from: datetime | None) -> Schedule:
    """The schedule with `kind` from `effective_from` on (None: from the start); a later
    pending change is replaced."""
    check_kind(kind)
    if effective_from is None:
        return ((None, kind),)
    kept = [(s, k) for s, k in schedule if s is None or s < effective_from]
    if kept[-1][1] != kind:
        kept.append((effective_from, kind))
    return tuple(kept)


def change_at(schedule: Schedule, kind: str, now: datetime, time_zone: str) -> Schedule:
    """A change decided at `now`: it takes effect where the period in progress ends."""
    return change(schedule, kind, current(schedule, now, time_zone).end)
