"""A customer's billing period kind (issue 12 item 4): monthly, weekly or daily, set by
admins and its reseller, followed by closes on request and by the closer, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from adapters.clock import FileClock
from composition.billing import invoicer
from composition.runtime import Runtime
from domain.billing.aggregates import CustomerBillingCycle
from domain.billing.invoices import invoice_id
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, eventually
from tests.integration.billing_helpers import Headers, billed_account, rate, tariff, usage
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create


def close(client: TestClient, headers: Headers, customer: str, period: str) -> Any:
    return client.post(
        "/v1/billing/periods/close",
        json={"customer_id": customer, "period": period},
        headers=headers,
    )


def invoices(client: TestClient, admin: Headers, customer: str) -> list[dict[str, Any]]:
    answer = client.get("/v1/invoices", params={"customer_id": customer}, headers=admin)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]  # type: ignore[no-any-return]


def kind(client: TestClient, headers: Headers, customer: str, value: Any) -> Any:
    return client.patch(
        f"/v1/customers/{customer}", json={"billing_period": value}, headers=headers
    )


def billed(client: TestClient, admin: Headers, **more: Any) -> dict[str, Any]:
    made = tariff(client, admin, [rate("44", "0.60")], name=f"T {more.get('name', 'ABC')}")
    return billed_account(client, admin, made["id"], **more)


def test_admins_and_its_reseller_set_the_kind_recorded_with_the_actor(
    client: TestClient, admin: Headers, runtime: Runtime, log_size: Any
) -> None:
    reseller = create(client, admin, "resellers", name="R", login="r", password="r-password")
    customer = create(
        client,
        admin,
        "customers",
        name="ABC",
        currency="EUR",
        time_zone="UTC",
        reseller_id=reseller["id"],
        login="abc",
        password="abc-password",
    )
    assert customer["billing_period"] == "monthly"  # the default
    theirs = login(client, "r", "r-password")
    answer = kind(client, theirs, customer["id"], "weekly")
    assert answer.status_code == 200, answer.text
    assert answer.json()["billing_period"] == "weekly"
    shown = client.get(f"/v1/customers/{customer['id']}", headers=admin).json()
    assert shown["billing_period"] == "weekly"
    assert kind(client, admin, customer["id"], "daily").json()["billing_period"] == "daily"
    cycle = runtime.services["billing"].load(
        CustomerBillingCycle.create_id(UUID(customer["id"])), CustomerBillingCycle
    )
    events = list(runtime.services["billing"].events.get(cycle.id))
    assert [type(e).__name__ for e in events] == ["Chosen", "Rescheduled"]
    assert [e.actor.realm.value for e in events] == ["reseller", "admin"]
    before = log_size()
    assert_problem(kind(client, admin, customer["id"], "yearly"), 422, "validation_error")
    mine = login(client, "abc", "abc-password")
    refused = kind(client, mine, customer["id"], "monthly")
    assert_problem(refused, 403, "forbidden")  # a customer does not choose its own
    assert log_size() == before


def test_a_change_takes_effect_where_the_period_in_progress_ends(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed(client, admin)
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    for at in ("2026-10-05", "2026-10-20", "2026-11-01", "2026-11-02"):
        assert usage(client, admin, account, "4420", 60, at=f"{at}T10:00:00+00:00").is_success
    clock.set(datetime(2026, 10, 15, 12, tzinfo=UTC))  # a Thursday in October
    assert kind(client, admin, customer, "weekly").status_code == 200
    # October is still monthly: it closes as it began, and its weeks are refused
    assert_problem(close(client, admin, customer, "2026-W43"), 422, "period_kind_mismatch")
    clock.set(datetime(2026, 11, 2, 0, 30, tzinfo=UTC))  # October and W44 have ended
    admin = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    october = close(client, admin, customer, "2026-10").json()
    assert october["totals"]["xdrs"] == 2
    # weekly from 1 November: the first week (W44, Mon 26 Oct ..) starts where October ended
    assert_problem(close(client, admin, customer, "2026-11"), 422, "period_kind_mismatch")
    first = close(client, admin, customer, "2026-W44").json()
    assert first["start"].startswith("2026-11-01T00:00:00")
    assert first["end"].startswith("2026-11-02T00:00:00")
    assert first["totals"]["xdrs"] == 1
    clock.set(datetime(2026, 11, 9, 1, 0, 1, tzinfo=UTC))  # W45 ended an hour ago
    admin = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    (made,) = invoicer(runtime).close_due()
    assert made == invoice_id(UUID(customer), "2026-W45", 1)
    listed = eventually(lambda: (found := invoices(client, admin, customer)) and len(found) == 3)
    assert listed
    periods = [i["period"] for i in invoices(client, admin, customer)]
    assert periods == ["2026-10", "2026-W44", "2026-W45"]


def test_the_closer_closes_a_weekly_customers_dst_week_after_the_grace(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed(client, admin, time_zone="Europe/Paris", billing_period="weekly")
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    # W43 in Paris is Mon 19 Oct 00:00 CEST .. Mon 26 Oct 00:00 CET: 169 hours
    usage(client, admin, account, "4420", 60, at="2026-10-18T22:30:00+00:00")  # Mon 00:30
    usage(client, admin, account, "4420", 60, at="2026-10-25T22:30:00+00:00")  # Sun 23:30 CET
    usage(client, admin, account, "4420", 60, at="2026-10-25T23:30:00+00:00")  # next week
    closer = invoicer(runtime)
    week_end = datetime(2026, 10, 25, 23, tzinfo=UTC)
    clock.set(week_end + timedelta(minutes=59))  # within the grace
    assert closer.close_due() == []
    clock.set(week_end + timedelta(hours=1, seconds=1))
    (made,) = closer.close_due()
    assert made == invoice_id(UUID(customer), "2026-W43", 1)
    (invoice,) = eventually(lambda: invoices(client, admin, customer) or None)
    assert invoice["period"] == "2026-W43"
    shown = client.get(f"/v1/invoices/{invoice['id']}", headers=admin).json()
    assert shown["totals"]["xdrs"] == 2
    start, end = datetime.fromisoformat(shown["start"]), datetime.fromisoformat(shown["end"])
    assert end - start == timedelta(hours=169)


def test_the_closer_closes_a_daily_customers_day_after_the_grace(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed(client, admin, time_zone="America/New_York", billing_period="daily")
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    # 5 October in New York (EDT, UTC-4): 04:00Z .. 04:00Z the next day
    usage(client, admin, account, "4420", 60, at="2026-10-06T03:30:00+00:00")  # 23:30 EDT
    usage(client, admin, account, "4420", 60, at="2026-10-06T04:30:00+00:00")  # 6 October
    closer = invoicer(runtime)
    clock.set(datetime(2026, 10, 6, 4, 59, tzinfo=UTC))  # the day ended 59 minutes ago
    assert closer.close_due() == []
    clock.set(datetime(2026, 10, 6, 5, 0, 1, tzinfo=UTC))
    (made,) = closer.close_due()
    assert made == invoice_id(UUID(customer), "2026-10-05", 1)
    (invoice,) = eventually(lambda: invoices(client, admin, customer) or None)
    assert (invoice["period"], invoice["total"]) == ("2026-10-05", "0.60")
    # a day closed refuses usage into it, the next is open
    late = usage(client, admin, account, "4420", 60, at="2026-10-05T20:00:00-04:00")
    assert_problem(late, 409, "period_closed")
    # a monthly id for a daily customer: refused, nothing closed
    assert_problem(close(client, admin, customer, "2026-10"), 422, "period_kind_mismatch")
    assert len(invoices(client, admin, customer)) == 1


def test_choosing_the_kind_in_force_records_nothing(
    client: TestClient, admin: Headers, log_size: Any
) -> None:
    customer = create(client, admin, "customers", name="Same", currency="EUR", time_zone="UTC")
    before = log_size()
    answer = kind(client, admin, customer["id"], "monthly")
    assert answer.status_code == 200 and answer.json()["billing_period"] == "monthly"
    assert log_size() == before
