"""Periodic fee adjustments, reseller subscriptions and credits for days without service
(seeds 002 and 003, the Panda telecom example) through the API; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from adapters.charger import CHARGER
from adapters.clock import FileClock
from composition.billing import service
from composition.runtime import Runtime
from domain.billing.subscriptions import PlanSpec
from domain.directory.access import Realm
from domain.shared.actor import Actor, CommandContext
from domain.shared.errors import PermissionDeniedError
from domain.shared.permissions import Access, Section
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.integration.billing_helpers import Headers, billed_account
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create
from tests.integration.test_billing_subscriptions import (
    charge,
    fee_xdrs,
    plan,
    settled,
    subscribe,
)

NOV = "2026-11-01T00:00:00+00:00"


def admin_at(client: TestClient, clock: FileClock, moment: str) -> Headers:
    """Move the clock and sign in again (a token does not outlive a jump of weeks)."""
    clock.set(datetime.fromisoformat(moment))
    return login(client, ADMIN_LOGIN, ADMIN_PASSWORD)


def adjust(client: TestClient, headers: Headers, sub_id: str, kind: str, value: str) -> Any:
    return client.post(
        f"/v1/subscriptions/{sub_id}/adjustments",
        json={"kind": kind, "value": value},
        headers=headers,
    )


# -- adjustments ------------------------------------------------------------------------
def test_a_fixed_upcharge_makes_john_does_fee_25_and_leaves_the_resellers_price(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    reseller = create(client, admin, "resellers", name="ABC Shuttle")
    setup = billed_account(client, admin, None, name="John Doe", reseller_id=reseller["id"])
    account, product = setup["account"]["id"], setup["product"]["id"]
    account_plan = plan(client, admin, product, fee="20.00", name="Recording")
    reseller_plan = plan(
        client, admin, product, fee="10.00", name="Recording for resellers", level="reseller"
    )
    clock.set(datetime.fromisoformat(NOV))
    sub = subscribe(client, admin, account, account_plan["id"], NOV).json()
    paid = subscribe(client, admin, account, reseller_plan["id"], NOV)
    assert paid.status_code == 201, paid.text
    assert paid.json()["level"] == "reseller" and paid.json()["period"] == "monthly"
    adjusted = adjust(client, admin, sub["id"], "fixed_upcharge", "5")
    assert adjusted.status_code == 200, adjusted.text
    assert (adjusted.json()["adjustment_kind"], adjusted.json()["adjustment_value"]) == (
        "fixed_upcharge",
        "5",
    )
    charge(runtime, clock, NOV)
    (fee,) = fee_xdrs(client, admin, account, 1)
    assert fee["amount"] == "25.00"
    assert fee["rate"]["adjustment"] == "fixed_upcharge 5"
    (owed,) = fee_xdrs(client, admin, account, 1, level="reseller")
    assert owed["amount"] == "10.00"  # the reseller pays the operator the same


@pytest.mark.parametrize(
    ("kind", "value", "amount"),
    [
        ("relative_discount", "100", "0.00"),
        ("relative_discount", "12.5", "17.50"),
        ("relative_upcharge", "10", "22.00"),
        ("fixed_discount", "20", "0.00"),
    ],
)
def test_each_kind_of_adjustment_changes_the_fee(
    client: TestClient,
    admin: Headers,
    runtime: Runtime,
    clock: FileClock,
    kind: str,
    value: str,
    amount: str,
) -> None:
    setup = billed_account(client, admin, None)
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="20.00")
    clock.set(datetime.fromisoformat(NOV))
    sub = subscribe(client, admin, account, made["id"], NOV).json()
    assert adjust(client, admin, sub["id"], kind, value).status_code == 200
    charge(runtime, clock, NOV)
    (fee,) = fee_xdrs(client, admin, account, 1)
    assert fee["amount"] == amount


@pytest.mark.parametrize(
    ("plan_fields", "kind", "value"),
    [
        ({"progressive": True}, "fixed_discount", "1"),
        ({"progressive": True}, "fixed_upcharge", "1"),
        ({"prepaid_months": 3}, "relative_discount", "10"),
        ({}, "fixed_discount", "20.01"),
        ({}, "relative_discount", "100.5"),
    ],
)
def test_an_adjustment_the_plan_cannot_take_is_refused_and_nothing_is_recorded(
    client: TestClient,
    admin: Headers,
    log_size: Any,
    plan_fields: dict[str, Any],
    kind: str,
    value: str,
) -> None:
    setup = billed_account(client, admin, None)
    made = plan(client, admin, setup["product"]["id"], fee="20.00", **plan_fields)
    sub = subscribe(client, admin, setup["account"]["id"], made["id"], NOV).json()
    before = log_size()
    assert_problem(adjust(client, admin, sub["id"], kind, value), 422, "invalid_adjustment")
    assert log_size() == before
    shown = client.get(f"/v1/subscriptions/{sub['id']}", headers=admin).json()
    assert shown["adjustment_kind"] is None


def test_a_relative_upcharge_on_a_progressive_plan_is_allowed(
    client: TestClient, admin: Headers
) -> None:
    setup = billed_account(client, admin, None)
    made = plan(client, admin, setup["product"]["id"], fee="20.00", progressive=True)
    sub = subscribe(client, admin, setup["account"]["id"], made["id"], NOV).json()
    assert adjust(client, admin, sub["id"], "relative_upcharge", "5").status_code == 200


# -- reseller subscriptions -------------------------------------------------------------
def test_reseller_subscriptions_follow_the_resellers_period_and_stop_when_the_account_closes(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    reseller = create(
        client,
        admin,
        "resellers",
        name="Resell",
        login="resell",
        password="resell-password",
    )
    billing = {"currency": "EUR", "time_zone": "Europe/Vilnius", "billing_period": "weekly"}
    patched = client.patch(
        f"/v1/resellers/{reseller['id']}", json={"billing": billing}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    setup = billed_account(client, admin, None, reseller_id=reseller["id"])
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="7.00", level="reseller")
    own = login(client, "resell", "resell-password")
    assert_problem(subscribe(client, own, account, made["id"], NOV), 403, "forbidden")
    clock.set(datetime.fromisoformat("2026-11-04T10:00:00+00:00"))  # a Wednesday
    sub = subscribe(client, admin, account, made["id"], "2026-11-04T10:00:00+00:00").json()
    assert (sub["period"], sub["zone"]) == ("weekly", "Europe/Vilnius")
    assert client.get(f"/v1/subscriptions/{sub['id']}", headers=own).status_code == 200
    headers = admin_at(client, clock, "2026-11-12T10:00:00+00:00")  # the next Thursday
    closed = client.post(f"/v1/accounts/{account}/close", headers=headers)
    assert closed.status_code in (200, 204), closed.text
    settled(runtime)
    shown = client.get(f"/v1/subscriptions/{sub['id']}", headers=headers).json()
    assert shown["end_reason"] == "the account closed"
    charge(runtime, clock, "2026-11-30T00:00:00+00:00")
    owed = fee_xdrs(client, headers, account, 2, level="reseller")
    # 4-8 Nov: 5 of 7 days; the week of 9 Nov charged whole in advance, then the days
    # after the closing day (13-15 Nov, in Vilnius) back
    assert [x["amount"] for x in owed] == ["5.00", "7.00", "-3.00"]
    customer_level = client.get("/v1/xdrs", params={"account_id": account}, headers=headers)
    assert customer_level.json()["items"] == []  # nothing at the customer's level
    assert all(x["reseller_id"] == reseller["id"] for x in owed)


# -- credits for days without service (seed 003) ------------------------------------------
def test_panda_telecom_credits_blocked_and_suspended_days_but_not_days_without_funds(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None, name="Panda customer")
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    made = plan(
        client,
        admin,
        setup["product"]["id"],
        name="100 minutes to Europe",
        fee="30.00",
        credit_conditions=["expired", "blocked", "suspended"],  # not: no funds
    )
    assert made["credit_conditions"] == ["expired", "blocked", "suspended"]
    headers = admin_at(client, clock, NOV)
    subscribe(client, headers, account, made["id"], NOV)
    headers = admin_at(client, clock, "2026-11-10T00:00:00+00:00")
    assert client.post(f"/v1/accounts/{account}/block", headers=headers).status_code == 200
    headers = admin_at(client, clock, "2026-11-13T12:00:00+00:00")
    assert client.post(f"/v1/accounts/{account}/unblock", headers=headers).status_code == 200
    for condition, start, end in (
        ("suspended", "2026-11-20T00:00:00+00:00", "2026-11-22T00:00:00+00:00"),
        ("no_funds", "2026-11-25T00:00:00+00:00", "2026-11-28T00:00:00+00:00"),
    ):
        body = {"customer_id": customer, "condition": condition, "start": start, "end": end}
        recorded = client.post("/v1/service-outages", json=body, headers=headers)
        assert recorded.status_code == 201, recorded.text
    settled(runtime)
    charge(runtime, clock, "2026-12-01T00:00:00+00:00")
    made_xdrs = fee_xdrs(client, headers, account, 7)
    fees = [(x["service"], x["amount"], x["connect_time"][:10]) for x in made_xdrs]
    assert fees[0] == ("subscription", "30.00", "2026-11-01")
    credits = [f for f in fees if f[0] == "credit"]
    # blocked the whole of 10, 11 and 12 November (not the 13th: unblocked at noon);
    # the customer suspended on 20 and 21 November; no credit for days without funds
    assert [c[2] for c in credits] == [
        "2026-11-10",
        "2026-11-11",
        "2026-11-12",
        "2026-11-20",
        "2026-11-21",
    ]
    assert {c[1] for c in credits} == {"-1.00"}  # a day of a 30-day month of 30.00
    assert any(x["rate"]["detail"].endswith("blocked") for x in made_xdrs)


def test_every_condition_is_credited_by_default(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00")
    headers = admin_at(client, clock, NOV)
    subscribe(client, headers, account, made["id"], NOV)
    body = {
        "customer_id": customer,
        "account_id": account,
        "condition": "no_funds",
        "start": "2026-11-03T00:00:00+00:00",
    }
    outage = client.post("/v1/service-outages", json=body, headers=headers).json()
    ended = client.post(
        f"/v1/service-outages/{outage['id']}/end",
        json={"end": "2026-11-05T00:00:00+00:00"},
        headers=headers,
    )
    assert ended.status_code == 200, ended.text
    charge(runtime, clock, "2026-11-10T00:00:00+00:00")
    credits = [x for x in fee_xdrs(client, headers, account, 3) if x["service"] == "credit"]
    assert [x["connect_time"][:10] for x in credits] == ["2026-11-03", "2026-11-04"]


# -- permissions and the charger's idempotence --------------------------------------------
def test_a_role_that_reads_billing_may_not_subscribe_at_the_service(
    client: TestClient, admin: Headers, runtime: Runtime, log_size: Any
) -> None:
    setup = billed_account(client, admin, None)
    made = plan(client, admin, setup["product"]["id"])
    reader = CommandContext(
        Actor(setup["customer"]["id"], Realm.CUSTOMER, "customer"),
        permissions={Section.BILLING: Access.READ},
    )
    before = log_size()
    with pytest.raises(PermissionDeniedError):
        service(runtime).subscribe(reader, UUID(setup["account"]["id"]), UUID(made["id"]))
    with pytest.raises(PermissionDeniedError):
        spec = PlanSpec("P", UUID(setup["product"]["id"]), Decimal(1), "EUR")
        service(runtime).create_plan(reader, spec)
    assert log_size() == before


def test_a_customer_sees_its_subscription_but_not_the_resellers(
    client: TestClient, admin: Headers
) -> None:
    reseller = create(client, admin, "resellers", name="R")
    setup = billed_account(client, admin, None, reseller_id=reseller["id"])
    customer = setup["customer"]
    client.patch(
        f"/v1/customers/{customer['id']}",
        json={"login": "cust", "password": "cust-password"},
        headers=admin,
    )
    account = setup["account"]["id"]
    mine = plan(client, admin, setup["product"]["id"])
    theirs = plan(client, admin, setup["product"]["id"], name="Resale", level="reseller")
    a = subscribe(client, admin, account, mine["id"], NOV).json()
    b = subscribe(client, admin, account, theirs["id"], NOV).json()
    own = login(client, "cust", "cust-password")
    listed = client.get(f"/v1/accounts/{account}/subscriptions", headers=own).json()["items"]
    assert [s["id"] for s in listed] == [a["id"]]
    assert_problem(client.get(f"/v1/subscriptions/{b['id']}", headers=own), 404, "not_found")


def test_xdrs_of_one_batch_are_all_kept_when_one_was_recorded_before(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    setup = billed_account(client, admin, None)
    at = datetime(2026, 11, 1, tzinfo=UTC)

    def xdr() -> dict[str, Any]:
        return {
            "leg_id": uuid4(),
            "level": "customer",
            "account_id": UUID(setup["account"]["id"]),
            "customer_id": UUID(setup["customer"]["id"]),
            "reseller_id": None,
            "service": "subscription",
            "direction": "outgoing",
            "access_code": "outgoing",
            "cli": "",
            "cld": "",
            "connect_time": at,
            "disconnect_time": at,
            "duration_seconds": 0,
            "charged_seconds": None,
            "quantity": Decimal(1),
            "unit": "day",
            "status": "rated",
            "reason": None,
            "tariff_id": None,
            "rate_prefix": None,
            "rate": {},
            "period": None,
            "amount": Decimal("1.00"),
            "currency": "EUR",
            "rounding": "away_from_zero",
            "precision": 2,
            "tracking_id": None,
            "previous_tracking_id": None,
        }

    ctx = CommandContext(CHARGER)
    first, second = xdr(), xdr()
    billing = service(runtime)
    assert billing.record_xdrs([(first, ctx)]) == 1
    assert billing.record_xdrs([(first, ctx), (second, ctx)]) == 1
    assert billing.record_xdrs([(first, ctx), (second, ctx)]) == 0
    assert len(fee_xdrs(client, admin, setup["account"]["id"], 2)) == 2


def test_a_reseller_applies_shared_plans_and_its_own_but_not_unshared_ones(
    client: TestClient, admin: Headers
) -> None:
    reseller = create(client, admin, "resellers", name="R", login="r", password="r-password")
    create(client, admin, "resellers", name="O", login="o", password="o-password")
    setup = billed_account(client, admin, None, reseller_id=reseller["id"])
    account, product = setup["account"]["id"], setup["product"]["id"]
    shared = plan(client, admin, product, name="Shared")
    unshared = plan(client, admin, product, name="Unshared", shared_with_resellers=False)
    own_headers = login(client, "r", "r-password")
    own = create(
        client,
        own_headers,
        "subscription-plans",
        name="Own",
        product_id=product,
        fee="25.00",
        currency="EUR",
    )
    assert own["managed_by"] == reseller["id"]
    assert subscribe(client, own_headers, account, shared["id"], NOV).status_code == 201
    assert subscribe(client, own_headers, account, own["id"], NOV).status_code == 201
    assert_problem(subscribe(client, own_headers, account, unshared["id"], NOV), 403, "forbidden")
    listed = client.get("/v1/subscription-plans", headers=own_headers).json()["items"]
    assert {p["name"] for p in listed} == {"Shared", "Own"}
    others = login(client, "o", "o-password")
    assert_problem(
        client.get(f"/v1/subscription-plans/{own['id']}", headers=others), 404, "not_found"
    )


def test_the_periods_invoice_includes_the_fee_and_its_credits(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00")
    headers = admin_at(client, clock, NOV)
    subscribe(client, headers, account, made["id"], NOV)
    body = {
        "customer_id": customer,
        "condition": "suspended",
        "start": "2026-11-03T00:00:00+00:00",
        "end": "2026-11-05T00:00:00+00:00",
    }
    assert client.post("/v1/service-outages", json=body, headers=headers).status_code == 201
    charge(runtime, clock, "2026-11-30T00:00:00+00:00")
    assert len(fee_xdrs(client, headers, account, 3)) == 3
    headers = admin_at(client, clock, "2026-12-01T02:00:00+00:00")
    closed = client.post(
        "/v1/billing/periods/close",
        json={"customer_id": customer, "period": "2026-11"},
        headers=headers,
    )
    assert closed.status_code in (200, 201), closed.text
    assert closed.json()["total"] == "28.00"  # 30.00 less two days of 1.00
