"""Billing periods: `2026-10` (monthly), `2026-W41` (ISO weekly), `2026-10-05` (daily),
each from midnight to midnight in the customer's zone. Pure: ids, kinds and bounds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.shared.errors import InvalidValueError

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
