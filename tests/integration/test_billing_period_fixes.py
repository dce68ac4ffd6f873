"""Billing periods, issue 12 follow-up: the closer catches up every missed period (customers
and resellers, once each), usage into a reseller's closed period is refused, and a
reseller's change of period kind is recorded when decided; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from adapters.clock import FileClock
from composition.billing import invoicer, service
from composition.runtime import Runtime
from domain.billing.aggregates import ResellerBilling
from domain.billing.invoices import invoice_id, reseller_invoice_id
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, eventually
from tests.integration.billing_helpers import Headers, billed_account, rate, tariff, usage
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create


def invoices(client: TestClient, headers: Headers, **query: Any) -> list[dict[str, Any]]:
    answer = client.get("/v1/invoices", params=query, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]  # type: ignore[no-any-return]


def reselling(
    client: TestClient, admin: Headers, *, period: str = "monthly", customer_period: str = "monthly"
) -> dict[str, Any]:
    """A reseller billed in Vilnius at a wholesale tariff, one of its customers (UTC) at a
    retail one."""
    retail = tariff(client, admin, [rate("44", "0.60")], name="Retail")
    wholesale = tariff(client, admin, [rate("44", "0.20")], name="Wholesale")
    reseller = create(client, admin, "resellers", name="Resell")
    billing = {
        "currency": "EUR",
        "time_zone": "Europe/Vilnius",
        "billing_period": period,
        "tariff_id": wholesale["id"],
    }
    configured = client.patch(
        f"/v1/resellers/{reseller['id']}", json={"billing": billing}, headers=admin
    )
    assert configured.status_code == 200, configured.text
    setup = billed_account(
        client,
        admin,
        retail["id"],
        name="Resold",
        reseller_id=reseller["id"],
        billing_period=customer_period,
    )
    return {**setup, "reseller": reseller}


# -- 1. the closer closes every missed period, oldest first ---------------------------------
def test_a_closer_down_for_days_closes_each_missed_day_oldest_first(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    made = tariff(client, admin, [rate("44", "0.60")], name="Daily")
    setup = billed_account(client, admin, made["id"], billing_period="daily")
    account, customer = setup["account"]["id"], UUID(setup["customer"]["id"])
    for day in ("05", "06", "08"):  # nothing on the 7th: no invoice for it
        assert usage(client, admin, account, "4420", 60, at=f"2026-10-{day}T10:00:00Z").is_success
    usage(client, admin, account, "4420", 60, at="2026-10-09T10:00:00Z")  # today: open
    closer = invoicer(runtime)
    clock.set(datetime(2026, 10, 9, 12, tzinfo=UTC))  # the closer was down since the 5th
    closed = closer.close_due()
    days = ("2026-10-05", "2026-10-06", "2026-10-08")
    assert closed == [invoice_id(customer, day, 1) for day in days]
    assert closer.close_due() == [invoice_id(customer, "2026-10-08", 1)]  # issued already
    listed = eventually(
        lambda: (
            (found := invoices(client, admin, customer_id=str(customer)))
            and len(found) == 3
            and found
        )
    )
    assert [(i["period"], i["total"]) for i in listed] == [(d, "0.60") for d in days]
    # a fresh closer (a restart) walks from the first xDR again and issues nothing new
    clock.set(datetime(2026, 10, 10, 1, 0, 1, tzinfo=UTC))  # the 9th is over
    assert invoicer_from(runtime).close_due() == [invoice_id(customer, "2026-10-09", 1)]


def test_back_dated_usage_in_an_open_day_before_the_last_closed_one_is_closed_too(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    made = tariff(client, admin, [rate("44", "0.60")], name="Daily late")
    setup = billed_account(client, admin, made["id"], billing_period="daily")
    account, customer = setup["account"]["id"], UUID(setup["customer"]["id"])
    for day in ("05", "07"):
        assert usage(client, admin, account, "4420", 60, at=f"2026-10-{day}T10:00:00Z").is_success
    closer = invoicer(runtime)
    clock.set(datetime(2026, 10, 9, 12, tzinfo=UTC))
    admin = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    assert closer.close_due() == [invoice_id(customer, f"2026-10-{d}", 1) for d in ("05", "07")]
    # the 6th had nothing and is open: a late record for it is accepted, and closed next round
    late = usage(client, admin, account, "4420", 60, at="2026-10-06T10:00:00Z")
    assert late.status_code == 201, late.text
    assert closer.close_due() == [
        invoice_id(customer, "2026-10-06", 1),
        invoice_id(customer, "2026-10-07", 1),
    ]
    listed = eventually(
        lambda: (
            (found := invoices(client, admin, customer_id=str(customer)))
            and len(found) == 3
            and found
        )
    )
    assert sorted(i["period"] for i in listed) == ["2026-10-05", "2026-10-06", "2026-10-07"]


def invoicer_from(runtime: Runtime) -> Any:
    """A second closer (another process) on the same store."""
    from adapters.invoicing import Invoicer

    first = invoicer(runtime)
    return Invoicer(
        first.service,
        first.db,
        first.rater,
        grace=first.grace,
        clock=first.clock,
        calls_up=first.calls_up,
        reseller_calls_up=first.reseller_calls_up,
    )


def test_a_resellers_missed_weeks_close_once_with_two_closers_at_once(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = reselling(client, admin, period="weekly")
    reseller = UUID(setup["reseller"]["id"])
    account = setup["account"]["id"]
    for at in ("2026-10-06", "2026-10-13", "2026-10-21"):  # W41, W42, W43 (Vilnius)
        assert usage(client, admin, account, "4420", 60, at=f"{at}T10:00:00Z").is_success
    clock.set(datetime(2026, 11, 3, tzinfo=UTC))  # W44 ended too (nothing in it)
    made: list[list[UUID]] = []
    errors: list[BaseException] = []

    def closer() -> None:
        try:
            made.append(invoicer_from(runtime).close_due())
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=closer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    weeks = ("2026-W41", "2026-W42", "2026-W43")
    wanted = [reseller_invoice_id(reseller, week, 1) for week in weeks]
    for issued in made:  # each closer's own, in period order; together: each week once
        mine = [i for i in issued if i in wanted]
        assert mine == sorted(mine, key=wanted.index)
    listed = eventually(
        lambda: (found := invoices(client, admin, level="reseller")) and len(found) == 3 and found
    )
    assert sorted(i["period"] for i in listed) == list(weeks)
    assert all(i["total"] == "0.20" for i in listed)
    assert sorted(str(i["id"]) for i in listed) == sorted(str(i) for i in wanted)
    # and the customer's (monthly) October, over on 1 November, closed in the same rounds
    october = invoice_id(UUID(setup["customer"]["id"]), "2026-10", 1)
    assert all(october in issued for issued in made)


def test_the_closer_stops_at_a_period_with_a_call_up_and_closes_it_once_the_call_ends(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    from tests.integration.calls_helpers import live, ok, pbx, script, until
    from tests.integration.test_billing_subscriptions_rules import admin_at

    office = pbx(client, admin)
    customer = UUID(office["customer"]["id"])
    john = office["john"]["account_login"]
    account = office["john"]["account_id"]
    for at in ("2026-09-10", "2026-10-10"):
        assert usage(client, admin, account, "4420", 60, at=f"{at}T10:00:00Z").is_success
    script(client, admin, john, answer_after_ms=0)
    script(client, admin, "15551230000", answer_after_ms=0)
    admin = admin_at(client, clock, "2026-10-31T23:59:00+00:00")
    call = ok(client, admin, "originate_advanced_call", caller_id=john, callee_id="15551230000")
    live(client, admin, call["call_id"], "connected", "connected")
    admin = admin_at(client, clock, "2026-11-01T02:00:00+00:00")  # the call is still up
    closer = invoicer(runtime)
    # September closes (the call started after its end); October waits for the call
    assert closer.close_due() == [invoice_id(customer, "2026-09", 1)]
    assert service(runtime).closed_invoice(customer, "2026-10") is None
    ok(client, admin, "disconnect_call", call_id=call["call_id"])
    until(client, admin, call["call_id"], "terminated")
    october = invoice_id(customer, "2026-10", 1)
    assert eventually(lambda: october in closer.close_due() or None)
    listed = eventually(
        lambda: (
            (found := invoices(client, admin, customer_id=str(customer)))
            and len(found) == 2
            and found
        )
    )
    assert [i["period"] for i in listed] == ["2026-09", "2026-10"]


# -- 2. usage into a reseller's closed period ------------------------------------------------
def test_usage_in_a_resellers_closed_period_is_refused_and_records_nothing(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = reselling(client, admin, period="daily")  # the customer is monthly: still open
    reseller, account = setup["reseller"]["id"], setup["account"]["id"]
    assert usage(client, admin, account, "4420", 60, at="2026-10-05T10:00:00Z").is_success
    clock.set(datetime(2026, 10, 6, 12, tzinfo=UTC))
    admin = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    closed = client.post(
        "/v1/billing/periods/close",
        json={"reseller_id": reseller, "period": "2026-10-05"},
        headers=admin,
    )
    assert closed.status_code == 201, closed.text
    gate = service(runtime)
    moment = datetime(2026, 10, 5, 15, tzinfo=UTC)  # 18:00 in Vilnius, the closed day
    eventually(
        lambda: gate.closed_period_for(UUID(setup["customer"]["id"]), UUID(reseller), moment)
    )
    late = usage(client, admin, account, "4420", 60, at=moment.isoformat(), record_id="late")
    assert_problem(late, 409, "period_closed")
    assert "reseller period 2026-10-05" in late.json()["detail"]
    xdrs = client.get("/v1/xdrs", params={"account_id": account}, headers=admin).json()["items"]
    assert len(xdrs) == 1  # the first usage's only
    # the customer's side alone answers open; the next Vilnius day is open for both
    assert gate.period_closed(UUID(setup["customer"]["id"]), moment) is False
    after = usage(client, admin, account, "4420", 60, at="2026-10-05T21:30:00Z")  # 6th, 00:30
    assert after.status_code == 201, after.text
    # a customer of no reseller: only its own periods answer
    assert gate.closed_period_for(UUID(setup["customer"]["id"]), None, moment) is None


# -- 3. a reseller's change of kind is recorded when decided -------------------------------
def test_a_resellers_new_kind_applies_from_the_end_of_the_period_in_progress_as_recorded(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = reselling(client, admin)  # monthly in Vilnius
    reseller, account = UUID(setup["reseller"]["id"]), setup["account"]["id"]
    clock.set(datetime(2026, 10, 15, 12, tzinfo=UTC))  # decided mid-October (by the clock)
    admin = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    changed = client.patch(
        f"/v1/resellers/{reseller}", json={"billing": {"billing_period": "weekly"}}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    billing = service(runtime).load(ResellerBilling.create_id(reseller), ResellerBilling)
    november = datetime(2026, 10, 31, 22, tzinfo=UTC)  # 1 November, midnight in Vilnius
    assert billing.schedule[-1] == (november, "weekly")
    events = list(service(runtime).events.get(ResellerBilling.create_id(reseller)))
    recorded = [e for e in events if isinstance(e, ResellerBilling.Reconfigured)]
    assert [e.effective_from for e in recorded if "billing_period" in e.changes] == [november]
    for at in ("2026-10-20", "2026-11-04"):  # October (monthly), W45 (weekly)
        assert usage(client, admin, account, "4420", 60, at=f"{at}T10:00:00Z").is_success
    clock.set(datetime(2026, 11, 8, 22, tzinfo=UTC) + timedelta(hours=1, seconds=1))
    admin = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    closed = invoicer(runtime).close_due()
    assert reseller_invoice_id(reseller, "2026-10", 1) in closed
    assert reseller_invoice_id(reseller, "2026-W45", 1) in closed
    listed = eventually(
        lambda: (found := invoices(client, admin, level="reseller")) and len(found) == 2 and found
    )
    assert sorted(i["period"] for i in listed) == ["2026-10", "2026-W45"]
