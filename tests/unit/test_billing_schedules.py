"""Period kinds over time (domain/billing/periods.py): a change takes effect where the
period in progress ends, the first period of the new kind is clipped there, and ids of
another kind are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.billing import periods
from domain.billing.catalogue import Catalogue
from domain.billing.periods import DEFAULT_SCHEDULE, PeriodKindError

OCT_15 = datetime(2026, 10, 15, 12, tzinfo=UTC)
NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)


def test_monthly_to_weekly_starts_weekly_where_the_month_ends() -> None:
    schedule = periods.change_at(DEFAULT_SCHEDULE, "weekly", OCT_15, "UTC")
    assert schedule == ((None, "monthly"), (NOV_1, "weekly"))
    october = periods.window(schedule, "2026-10")
    assert (october.start, october.end) == (datetime(2026, 10, 1, tzinfo=UTC), NOV_1)
    w44 = periods.window(schedule, "2026-W44")  # Mon 26 Oct .. Mon 2 Nov, clipped
    assert (w44.start, w44.end) == (NOV_1, datetime(2026, 11, 2, tzinfo=UTC))
    with pytest.raises(PeriodKindError):
        periods.window(schedule, "2026-W43")  # all of it was billed monthly
    with pytest.raises(PeriodKindError):
        periods.window(schedule, "2026-11")


def test_weekly_to_monthly_starts_monthly_where_the_week_ends() -> None:
    weekly = periods.change(DEFAULT_SCHEDULE, "weekly", None)
    schedule = periods.change_at(weekly, "monthly", OCT_15, "UTC")  # W42 ends Mon 19 Oct
    october = periods.window(schedule, "2026-10")
    assert october.start == datetime(2026, 10, 19, tzinfo=UTC) and october.end == NOV_1


def test_a_second_change_before_the_first_takes_effect_replaces_it() -> None:
    first = periods.change_at(DEFAULT_SCHEDULE, "weekly", OCT_15, "UTC")
    second = periods.change_at(first, "daily", OCT_15 + timedelta(days=1), "UTC")
    assert second == ((None, "monthly"), (NOV_1, "daily"))
    assert periods.change_at(second, "monthly", OCT_15, "UTC") == DEFAULT_SCHEDULE


def test_the_previous_period_follows_the_schedule_and_the_zone() -> None:
    weekly = periods.change(DEFAULT_SCHEDULE, "weekly", None)
    # Paris, the week DST ends: W43 is 169 hours
    after = datetime(2026, 10, 26, 0, 30, tzinfo=UTC)
    week = periods.previous(weekly, after, "Europe/Paris")
    assert week.id == "2026-W43"
    assert week.end - week.start == timedelta(hours=169)
    switched = periods.change_at(DEFAULT_SCHEDULE, "weekly", OCT_15, "UTC")
    assert periods.previous(switched, datetime(2026, 11, 1, 1, tzinfo=UTC), "UTC").id == "2026-10"
    assert periods.previous(switched, datetime(2026, 11, 2, 1, tzinfo=UTC), "UTC").id == "2026-W44"


def test_a_bad_kind_is_refused() -> None:
    with pytest.raises(periods.InvalidValueError):
        periods.change(DEFAULT_SCHEDULE, "yearly", None)


def test_a_resellers_new_kind_applies_from_its_next_period() -> None:
    from uuid import uuid4

    from domain.billing.aggregates import ResellerBilling
    from domain.shared.actor import Actor, CommandContext, acting_as

    catalogue = Catalogue()
    reseller = uuid4()
    with acting_as(CommandContext(Actor.system("test"))):
        made = ResellerBilling(
            reseller_id=reseller,
            currency="EUR",
            time_zone="UTC",
            billing_period="daily",
            tariff_id=None,
        )
        made.reconfigure(datetime(2026, 10, 5, 12, tzinfo=UTC), billing_period="monthly")
    events = made.collect_events()
    for event in events:
        catalogue.apply(event)
    party = catalogue.resellers[reseller]
    assert party.schedule[0] == (None, "daily")  # configured: from the start
    # recorded when decided (the clock's noon on 5 October): from the end of that day
    assert events[1].effective_from == datetime(2026, 10, 6, tzinfo=UTC)
    assert party.schedule[1] == (datetime(2026, 10, 6, tzinfo=UTC), "monthly")
    assert made.schedule == party.schedule
    # an event recorded before effective_from was: from the end of its timestamp's day
    legacy = Catalogue()
    legacy.apply(events[0])
    old = object.__new__(type(events[1]))
    old.__dict__.update({k: v for k, v in events[1].__dict__.items() if k != "effective_from"})
    legacy.apply(old)
    stamp = events[1].timestamp
    assert legacy.resellers[reseller].schedule[1][0] == datetime.combine(
        stamp.date() + timedelta(days=1), datetime.min.time(), UTC
    )
