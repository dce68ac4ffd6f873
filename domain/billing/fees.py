"""Recurring fees, pure: billing periods in a zone, proration by whole days, periodic fee
adjustments, and credits for days without service (seed 003). No I/O; the charger feeds
it what the log says and appends what it answers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo

from domain.billing.rounding import RoundingRule
from domain.shared.errors import InvalidValueError

PERIODS = ("monthly", "weekly", "daily")
IN_ADVANCE, IN_ARREARS = "in_advance", "in_arrears"
AT_START, AT_FIRST_USAGE = "start_date", "first_usage"
CONDITIONS = ("expired", "blocked", "suspended", "no_funds")
ADJUSTMENTS = ("relative_discount", "relative_upcharge", "fixed_discount", "fixed_upcharge")
SUBSCRIPTION, CREDIT = "subscription", "credit"


class AdjustmentError(InvalidValueError):
    """A periodic fee adjustment this subscription cannot take."""

    code = "invalid_adjustment"


@dataclass(frozen=True)
class Adjustment:
    kind: str
    value: Decimal

    def apply(self, fee: Decimal) -> Decimal:
        if self.kind == "relative_discount":
            return fee * (1 - self.value / 100)
        if self.kind == "relative_upcharge":
            return fee * (1 + self.value / 100)
        if self.kind == "fixed_discount":
            return fee - self.value
        return fee + self.value


def check_adjustment(
    kind: str, value: Decimal, fee: Decimal, progressive: bool, prepaid_months: int
) -> Adjustment:
    """The adjustment, or AdjustmentError: refused on multi-month prepaid plans, fixed ones
    on progressively charged ("keep total charge only") plans, and any making fee < 0."""
    if kind not in ADJUSTMENTS:
        raise AdjustmentError(f"an adjustment is one of {', '.join(ADJUSTMENTS)}")
    if not value.is_finite() or value < 0:
        raise AdjustmentError("an adjustment's value is 0 or more")
    if prepaid_months > 1:
        raise AdjustmentError("a plan prepaid for several months takes no fee adjustment")
    if progressive and kind.startswith("fixed"):
        raise AdjustmentError(
            "a progressively charged plan (keep total charge only) takes no fixed adjustment"
        )
    adjusted = Adjustment(kind, value)
    if adjusted.apply(fee) < 0:
        raise AdjustmentError(f"the adjustment would make the fee {fee} negative")
    return adjusted


@dataclass(frozen=True)
class Plan:
    fee: Decimal
    period: str
    charged: str  # in_advance | in_arrears
    prorate: bool
    activation: str
    precision: int
    credit_conditions: tuple[str, ...] = CONDITIONS


@dataclass(frozen=True)
class Outage:
    """A condition without service, from `start` to `end` (None: still going)."""

    condition: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class Term:
    """One subscription as the charger sees it."""

    id: UUID
    plan: Plan
    zone: str
    start: datetime  # activation (first usage, or the start date)
    end: datetime | None
    adjustment: Adjustment | None = None


@dataclass(frozen=True)
class Charge:
    key: str  # the leg id's name: kind and local period start
    service: str  # subscription | credit
    start: datetime  # UTC, the charge's period start (connect_time)
    end: datetime
    amount: Decimal
    days: int
    period_days: int
    detail: str

    def leg_id(self, subscription_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"switchlog:subscription-charge:{subscription_id}:{self.key}")


def period_of(day: date, period: str) -> tuple[date, date]:
    """The local billing period holding `day`: [first day, first day of the next)."""
    if period == "daily":
        return day, day + timedelta(days=1)
    if period == "weekly":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=7)
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt


def _local_day(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


def _end_day(at: datetime, zone: ZoneInfo) -> date:
    """The first local day not covered by a term ending at `at` (a started day counts)."""
    local = at.astimezone(zone)
    return local.date() if local.time() == time(0) else local.date() + timedelta(days=1)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(ZoneInfo("UTC"))


def periods(term: Term, until: date, zone: ZoneInfo) -> Iterator[tuple[date, date]]:
    day = _local_day(term.start, zone)
    while day < until:
        first, nxt = period_of(day, term.plan.period)
        yield first, nxt
        day = nxt


def fee_of(term: Term) -> Decimal:
    return term.adjustment.apply(term.plan.fee) if term.adjustment else term.plan.fee


def due(
    term: Term, now: datetime, rule: RoundingRule, outages: Sequence[Outage] = ()
) -> list[Charge]:
    """Every charge of the term due by `now`: the fee of each period (prorated by whole
    local days at start and stop), a refund of unused days when a term charged in advance
    stops, and one credit per whole day without service."""
    zone = ZoneInfo(term.zone)
    first_day = _local_day(term.start, zone)
    end_day = _end_day(term.end, zone) if term.end else None
    today = _local_day(now, zone)
    horizon = min(end_day, today + timedelta(days=1)) if end_day else today + timedelta(days=1)
    fee = fee_of(term)
    plan = term.plan
    charges: list[Charge] = []
    for first, nxt in periods(term, horizon, zone):
        period_days = (nxt - first).days
        start = max(first, first_day)
        stop = min(nxt, end_day) if end_day else nxt
        if plan.charged == IN_ADVANCE:
            charged_stop = nxt
            if now < max(_midnight(first, zone), term.start):
                continue
        else:
            charged_stop = stop
            closes = _midnight(nxt, zone)
            if term.end is not None:
                closes = min(closes, term.end)
            if now < closes:
                continue
        days = (charged_stop - start).days
        amount = fee * days / period_days if plan.prorate else fee
        charges.append(
            Charge(
                f"fee:{first.isoformat()}",
                SUBSCRIPTION,
                _midnight(first, zone),
                _midnight(nxt, zone),
                rule(amount),
                days if plan.prorate else period_days,
                period_days,
                f"{plan.period} fee {fee} for {first.isoformat()}",
            )
        )
        stopped = term.end is not None and now >= term.end
        if plan.charged == IN_ADVANCE and stopped and stop < nxt:
            unused = (nxt - stop).days
            if plan.prorate and unused:
                charges.append(
                    Charge(
                        f"refund:{first.isoformat()}",
                        SUBSCRIPTION,
                        _midnight(stop, zone),
                        _midnight(nxt, zone),
                        -rule(fee * unused / period_days),
                        unused,
                        period_days,
                        f"{unused} unused day(s) of {first.isoformat()} after the stop",
                    )
                )
    charges += credits(term, now, rule, outages, zone, first_day, end_day)
    return charges


def credits(
    term: Term,
    now: datetime,
    rule: RoundingRule,
    outages: Sequence[Outage],
    zone: ZoneInfo,
    first_day: date,
    end_day: date | None,
) -> list[Charge]:
    """One credit per whole local day (midnight to midnight) on which a condition the plan
    credits held all day, for days of the term that have ended."""
    counted = [o for o in outages if o.condition in term.plan.credit_conditions]
    days: dict[date, str] = {}
    for outage in counted:
        day = max(_local_day(outage.start, zone), first_day)
        if _midnight(day, zone) < outage.start:
            day += timedelta(days=1)
        while end_day is None or day < end_day:
            day_end = _midnight(day + timedelta(days=1), zone)
            if day_end > now or (outage.end is not None and day_end > outage.end):
                break
            days.setdefault(day, outage.condition)
            day += timedelta(days=1)
    fee = fee_of(term)
    made = []
    for day, condition in sorted(days.items()):
        first, nxt = period_of(day, term.plan.period)
        period_days = (nxt - first).days
        made.append(
            Charge(
                f"credit:{day.isoformat()}",
                CREDIT,
                _midnight(day, zone),
                _midnight(day + timedelta(days=1), zone),
                -rule(fee / period_days),
                1,
                period_days,
                f"no service on {day.isoformat()}: {condition}",
            )
        )
    return made
