"""Recurring fees, pure: billing periods in a zone, proration by whole days, periodic fee
adjustments, and credits for days without service (seed 003). No I/O; the charger feeds
it what the log says and appends what it answers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
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
    prepaid_months: int = 1  # > 1: charged once per that many months, in advance


@dataclass(frozen=True)
class Outage:
    """A condition without service, from `start` to `end` (None: still going)."""

    condition: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class FeeChange:
    """From `at` on: the plan's fee becomes `fee` (None: unchanged) and, when `adjusts`,
    the subscription's adjustment becomes `adjustment` (None: removed)."""

    at: datetime
    fee: Decimal | None = None
    adjustment: Adjustment | None = None
    adjusts: bool = False
    key: str = ""  # names the change among others at the same moment (its event)


@dataclass(frozen=True)
class Term:
    """One subscription as the charger sees it: the plan's fee and the adjustment it had
    from its start, then its fee changes in time order (plan edits, adjustments)."""

    id: UUID
    plan: Plan
    zone: str
    start: datetime  # activation (first usage, or the start date)
    end: datetime | None
    adjustment: Adjustment | None = None
    history: tuple[FeeChange, ...] = ()


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
    fee: Decimal | None = None  # the (adjusted) fee it charges; None: several, see detail
    adjustment: Adjustment | None = None  # the adjustment in force for it
    plan_fee: Decimal | None = None  # the plan's fee in force for it (unadjusted)

    def leg_id(self, subscription_id: UUID) -> UUID:
        return leg_id(subscription_id, self.key)


def leg_id(subscription_id: UUID, key: str) -> UUID:
    """The leg id of the subscription's charge named `key`."""
    return uuid5(NAMESPACE_URL, f"switchlog:subscription-charge:{subscription_id}:{key}")


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


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def term_period(term: Term, day: date, zone: ZoneInfo) -> tuple[date, date]:
    """The charged period holding `day`; a multi-month prepaid plan's is its whole term,
    N months from the first of the subscription's first month."""
    months = term.plan.prepaid_months
    if months <= 1:
        return period_of(day, term.plan.period)
    anchor = _local_day(term.start, zone).replace(day=1)
    elapsed = (day.year - anchor.year) * 12 + day.month - anchor.month
    first = _add_months(anchor, elapsed // months * months)
    return first, _add_months(first, months)


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
        first, nxt = term_period(term, day, zone)
        yield first, nxt
        day = nxt


def _in_force(term: Term, at: datetime | None, strict: bool) -> tuple[Decimal, Adjustment | None]:
    """The plan's fee and the adjustment in force at `at` (as fee_at counts changes)."""
    fee, adjustment = term.plan.fee, term.adjustment
    for change in term.history:
        if at is not None and (change.at > at or (strict and change.at == at)):
            break
        if term.end is not None and change.at >= term.end:
            break
        if change.fee is not None:
            fee = change.fee
        if change.adjusts:
            adjustment = change.adjustment
    return fee, adjustment


def fee_at(term: Term, at: datetime | None = None, *, strict: bool = False) -> Decimal:
    """The adjusted fee in force at `at` (None: after every change), counting the changes
    made at `at` unless `strict`, and none made at or after the term's end. Never < 0."""
    fee, adjustment = _in_force(term, at, strict)
    value = adjustment.apply(fee) if adjustment else fee
    return max(value, Decimal(0))


def plan_fee_at(term: Term, at: datetime | None = None, *, strict: bool = False) -> Decimal:
    """The plan's own fee (unadjusted) in force at `at`, as fee_at counts changes."""
    return _in_force(term, at, strict)[0]


def adjustment_at(term: Term, at: datetime, *, strict: bool = False) -> Adjustment | None:
    """The adjustment in force at `at` (as fee_at counts changes)."""
    adjustment = term.adjustment
    for change in term.history:
        if change.at > at or (strict and change.at == at):
            break
        if term.end is not None and change.at >= term.end:
            break
        if change.adjusts:
            adjustment = change.adjustment
    return adjustment


def fee_of(term: Term) -> Decimal:
    return fee_at(term)


def day_fee(term: Term, day: date, zone: ZoneInfo) -> Decimal:
    """A day's fee: the one in force by its end (a change counts from its local day on)."""
    return fee_at(term, _midnight(day + timedelta(days=1), zone), strict=True)


def _opens(term: Term, first: date, zone: ZoneInfo) -> datetime:
    """When the charged period starting on local day `first` opened for the term."""
    return max(_midnight(first, zone), term.start)


def _day_moment(term: Term, day: date, zone: ZoneInfo) -> tuple[datetime, bool]:
    """The moment (and whether strictly before it) whose fee was charged for `day`: for a
    prorated plan charged per period, the day's own (in advance, corrections make each day
    the fee it had; in arrears each day is charged at it); otherwise, and for multi-month
    prepaid terms, the fee in force when the day's period opened (charged once, never
    corrected), in advance and in arrears alike."""
    if term.plan.prorate and term.plan.prepaid_months <= 1:
        return _midnight(day + timedelta(days=1), zone), True
    first, _nxt = term_period(term, day, zone)
    return _opens(term, first, zone), False


def charged_fee(term: Term, day: date, zone: ZoneInfo) -> Decimal:
    """The (adjusted) fee actually charged for `day`: what a credit for it gives back."""
    at, strict = _day_moment(term, day, zone)
    return fee_at(term, at, strict=strict)


def _shown(fee: Decimal, places: int) -> str:
    """A fee for a detail line: at least `places` decimals, no trailing zeros past them."""
    exact = fee.normalize()
    decimals = max(-exact.as_tuple().exponent, places)  # type: ignore[operator]
    return f"{fee:.{decimals}f}"


def _stamp(at: datetime) -> str:
    return at.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%S%fZ")


def _changes(
    term: Term, after: datetime, before: datetime
) -> Iterator[tuple[FeeChange, Decimal, Decimal]]:
    """Each change in (after, before) that moved the fee: the change, the fee before it
    and after it (changes at one moment each count on their own, in order)."""
    fee, adjustment = term.plan.fee, term.adjustment

    def value() -> Decimal:
        return max(adjustment.apply(fee) if adjustment else fee, Decimal(0))

    for change in term.history:
        if term.end is not None and change.at >= term.end:
            break
        old = value()
        if change.fee is not None:
            fee = change.fee
        if change.adjusts:
            adjustment = change.adjustment
        if after < change.at < before and value() != old:
            yield change, old, value()


def _by_days(term: Term, days: Sequence[date], zone: ZoneInfo) -> list[tuple[int, Decimal]]:
    """Runs of consecutive days at one fee: (days, fee)."""
    runs: list[tuple[int, Decimal]] = []
    for day in days:
        fee = day_fee(term, day, zone)
        if runs and runs[-1][1] == fee:
            runs[-1] = (runs[-1][0] + 1, fee)
        else:
            runs.append((1, fee))
    return runs


def _span(first: date, nxt: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((nxt - first).days)]


def due(
    term: Term, now: datetime, rule: RoundingRule, outages: Sequence[Outage] = ()
) -> list[Charge]:
    """Every charge of the term due by `now`: the fee of each period (prorated by whole
    local days at start and stop), in advance a correction for each fee change inside a
    charged period (from its local day on) and a refund of unused days when the term
    stops, in arrears each day at its own fee, and one credit per whole day without
    service. A multi-month prepaid plan is charged once per term, in advance, and never
    corrected or refunded."""
    zone = ZoneInfo(term.zone)
    first_day = _local_day(term.start, zone)
    end_day = _end_day(term.end, zone) if term.end else None
    today = _local_day(now, zone)
    horizon = min(end_day, today + timedelta(days=1)) if end_day else today + timedelta(days=1)
    plan = term.plan
    prepaid = plan.prepaid_months > 1
    charges: list[Charge] = []
    for first, nxt in periods(term, horizon, zone):
        period_days = (nxt - first).days
        start = max(first, first_day)
        stop = min(nxt, end_day) if end_day else nxt
        opens = max(_midnight(first, zone), term.start)
        label = f"{plan.prepaid_months}-month term" if prepaid else plan.period
        if plan.charged == IN_ADVANCE:
            if now < opens:
                continue
            fee = fee_at(term, opens)
            days = (nxt - start).days
            charges.append(
                Charge(
                    f"fee:{first.isoformat()}",
                    SUBSCRIPTION,
                    _midnight(first, zone),
                    _midnight(nxt, zone),
                    rule(fee * days / period_days if plan.prorate else fee),
                    days if plan.prorate else period_days,
                    period_days,
                    f"{label} fee {_shown(fee, plan.precision)} for {first.isoformat()}",
                    fee,
                    adjustment_at(term, opens),
                    plan_fee_at(term, opens),
                )
            )
            if plan.prorate and not prepaid:
                charges += _corrections(term, now, rule, zone, first, nxt)
            stopped = term.end is not None and now >= term.end
            if stopped and stop < nxt and plan.prorate and not prepaid:
                unused = _span(stop, nxt)
                owed = sum((day_fee(term, d, zone) for d in unused), Decimal(0))
                charges.append(
                    Charge(
                        f"refund:{first.isoformat()}",
                        SUBSCRIPTION,
                        _midnight(stop, zone),
                        _midnight(nxt, zone),
                        -rule(owed / period_days),
                        len(unused),
                        period_days,
                        f"{len(unused)} unused day(s) of {first.isoformat()} after the stop",
                        plan_fee=plan_fee_at(term, term.end),
                    )
                )
        else:
            closes = _midnight(nxt, zone)
            if term.end is not None:
                closes = min(closes, term.end)
            if now < closes:
                continue
            if plan.prorate:
                runs = _by_days(term, _span(start, stop), zone)
                amount = sum((fee * days for days, fee in runs), Decimal(0)) / period_days
                charged = sum(days for days, _ in runs)
                detail = ", ".join(
                    f"{days} day(s) at {_shown(fee, plan.precision)}" for days, fee in runs
                )
                only = runs[0][1] if len(runs) == 1 else None
                plan_fees = {
                    plan_fee_at(term, _midnight(d + timedelta(days=1), zone), strict=True)
                    for d in _span(start, stop)
                }
                plan_fee = plan_fees.pop() if len(plan_fees) == 1 else None
            else:
                only = fee_at(term, opens)
                plan_fee = plan_fee_at(term, opens)
                amount, charged, detail = only, period_days, f"fee {only}"
            charges.append(
                Charge(
                    f"fee:{first.isoformat()}",
                    SUBSCRIPTION,
                    _midnight(first, zone),
                    _midnight(nxt, zone),
                    rule(amount),
                    charged,
                    period_days,
                    f"{label} fee for {first.isoformat()}: {detail}",
                    only,
                    adjustment_at(term, closes, strict=True),
                    plan_fee,
                )
            )
    charges += credits(term, now, rule, outages, zone, first_day, end_day)
    return charges


def _corrections(
    term: Term, now: datetime, rule: RoundingRule, zone: ZoneInfo, first: date, nxt: date
) -> list[Charge]:
    """In advance: each fee change after the period was charged (and by now) corrects the
    days from its local day to the period's end, positive or negative."""
    period_days = (nxt - first).days
    opens = max(_midnight(first, zone), term.start)
    before = min(_midnight(nxt, zone), now + timedelta(microseconds=1))
    made = []
    for change, old, new in _changes(term, opens, before):
        day = _local_day(change.at, zone)
        days = (nxt - day).days
        name = _stamp(change.at) + (f":{change.key}" if change.key else "")
        made.append(
            Charge(
                f"change:{first.isoformat()}:{name}",
                SUBSCRIPTION,
                _midnight(day, zone),
                _midnight(nxt, zone),
                rule((new - old) * days / period_days),
                days,
                period_days,
                f"fee {_shown(old, term.plan.precision)} -> {_shown(new, term.plan.precision)}"
                f" from {day.isoformat()}: {days} day(s) of {first.isoformat()}",
                new,
                adjustment_at(term, change.at),
                plan_fee_at(term, change.at),
            )
        )
    return made


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
    credits held all day, for days of the term that have ended, at the fee charged for
    that day (`charged_fee`) over the days of its period."""
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
    made = []
    for day, condition in sorted(days.items()):
        first, nxt = term_period(term, day, zone)
        period_days = (nxt - first).days
        fee = charged_fee(term, day, zone)
        at, strict = _day_moment(term, day, zone)
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
                fee,
                adjustment_at(term, at, strict=strict),
                plan_fee_at(term, at, strict=strict),
            )
        )
    return made


def fix_key(key: str, link: int, charged: Decimal) -> str:
    """The key of the `link`-th fix (1, 2, ...) to the charge `key`, of which `charged` is
    charged so far (it and its `link - 1` earlier fixes): two chargers compute the same
    one, a later change a new one, and a total back at an earlier value (a charger that
    read a stale fee) still makes a new link, so the chain never loops."""
    return f"fix:{key}:{link}:{format(charged.normalize(), 'f')}"


def fixes(
    charges: Sequence[Charge],
    charged: Mapping[str, Decimal],
    places: int,
    links: Mapping[str, int] | None = None,
) -> list[Charge]:
    """Reconciling: for each charge due whose key is charged already (`charged`: key ->
    the amount of its xDR and its fixes; `links`: key -> how many fixes, none if absent),
    a fix for the difference when they differ (a read model behind a fee change charged
    the old fee). A fix spans what it fixes."""
    made = []
    for charge in charges:
        if charge.key not in charged or charged[charge.key] == charge.amount:
            continue
        was = charged[charge.key]
        link = (links or {}).get(charge.key, 0) + 1
        kind, _, rest = charge.key.partition(":")
        made.append(
            replace(
                charge,
                key=fix_key(charge.key, link, was),
                amount=charge.amount - was,
                detail=f"{kind} {_shown(was, places)} -> {_shown(charge.amount, places)}"
                f" for {rest} (charged at {_shown(was, places)}): {charge.detail}",
            )
        )
    return made
