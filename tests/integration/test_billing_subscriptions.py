"""Subscription fees through the API: plans on products, account subscriptions charged as
xDRs by the charger (in advance, in arrears, prorated), adjustments; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from adapters.clock import FileClock
from composition.billing import charger, service
from composition.runtime import Runtime
from tests.conftest import eventually
from tests.integration.billing_helpers import Headers, billed_account
from tests.integration.helpers import assert_problem, create


def plan(client: TestClient, admin: Headers, product_id: str, **more: Any) -> dict[str, Any]:
    body = {"name": more.pop("name", "Calls 100"), "product_id": product_id, "fee": "31.00"}
    return create(client, admin, "subscription-plans", currency="EUR", **{**body, **more})


def subscribe(
    client: TestClient, headers: Headers, account_id: str, plan_id: str, start: str
) -> Any:
    return client.post(
        f"/v1/accounts/{account_id}/subscriptions",
        json={"plan_id": plan_id, "start": start},
        headers=headers,
    )


def fee_xdrs(
    client: TestClient, admin: Headers, account_id: str, count: int, level: str = "customer"
) -> list[dict[str, Any]]:
    """The account's subscription and credit xDRs once there are `count` of them."""

    def found() -> list[dict[str, Any]] | None:
        answer = client.get(
            "/v1/xdrs", params={"account_id": account_id, "level": level}, headers=admin
        )
        assert answer.status_code == 200, answer.text
        items = answer.json()["items"]
        fees = [x for x in items if x["service"] in ("subscription", "credit")]
        return fees if len(fees) >= count else None

    made: list[dict[str, Any]] = eventually(found, timeout=10)
    return made


def settled(runtime: Runtime) -> None:
    """Wait until the read models have every event appended so far."""
    end = runtime.source.max_position()
    eventually(lambda: runtime.runner.position("billing") >= end, timeout=10)


def charge(runtime: Runtime, clock: FileClock, moment: str) -> int:
    """Charge what is due at `moment`, then put the clock back (tokens stay valid)."""
    before = clock.now()
    clock.set(datetime.fromisoformat(moment))
    try:
        made: int = charger(runtime).charge()
    finally:
        clock.set(before)
    return made


def test_a_monthly_fee_in_advance_is_prorated_from_the_start_day_then_charged_whole(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"])
    assert made["fee"] == "31.00" and made["charged"] == "in_advance"
    clock.set(datetime(2026, 10, 11, 9, tzinfo=UTC))
    answer = subscribe(client, admin, account, made["id"], "2026-10-11T09:00:00+00:00")
    assert answer.status_code == 201, answer.text
    assert answer.json()["zone"] == "UTC"
    assert charge(runtime, clock, "2026-10-11T09:00:00+00:00") == 1
    (october,) = fee_xdrs(client, admin, account, 1)
    assert october["amount"] == "21.00"  # 21 of October's 31 days, the start day included
    assert october["service"] == "subscription"
    assert october["connect_time"].startswith("2026-10-01T00:00:00")
    assert october["quantity"] == "21" and october["unit"] == "day"
    assert october["rate"]["subscription_id"] == answer.json()["id"]
    assert charge(runtime, clock, "2026-10-31T23:59:00+00:00") == 0  # November not due yet
    assert charge(runtime, clock, "2026-11-01T00:00:00+00:00") == 1
    charge(runtime, clock, "2026-11-01T00:00:00+00:00")  # again: nothing new
    settled(runtime)
    amounts = [x["amount"] for x in fee_xdrs(client, admin, account, 2)]
    assert amounts == ["21.00", "31.00"]  # never twice


def test_a_fee_in_arrears_is_charged_at_the_stop_for_the_days_used(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00", charged="in_arrears")
    clock.set(datetime(2026, 11, 1, tzinfo=UTC))
    sub = subscribe(client, admin, account, made["id"], "2026-11-01T00:00:00+00:00").json()
    assert charge(runtime, clock, "2026-11-10T00:00:00+00:00") == 0
    timeouts = "switchlog_read_your_writes_timeouts_total"
    before = REGISTRY.get_sample_value(timeouts, {"read_model": "subscriptions"}) or 0.0
    ended = client.post(
        f"/v1/subscriptions/{sub['id']}/end",
        json={"end": "2026-11-16T00:00:00+00:00"},
        headers=admin,
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["end_reason"] == "ended"
    assert ended.json()["ended_at"].startswith("2026-11-16")
    # it answered once the read model showed the end, not after waiting its timeout out
    after = REGISTRY.get_sample_value(timeouts, {"read_model": "subscriptions"}) or 0.0
    assert after == before
    assert charge(runtime, clock, "2026-11-20T00:00:00+00:00") == 1
    (november,) = fee_xdrs(client, admin, account, 1)
    assert november["amount"] == "15.00"  # 15 of 30 days
    charge(runtime, clock, "2026-12-20T00:00:00+00:00")
    settled(runtime)
    assert len(fee_xdrs(client, admin, account, 1)) == 1


def test_a_fee_in_advance_stopped_early_refunds_the_unused_days(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00")
    clock.set(datetime(2026, 11, 1, tzinfo=UTC))
    sub = subscribe(client, admin, account, made["id"], "2026-11-01T00:00:00+00:00").json()
    assert charge(runtime, clock, "2026-11-01T00:00:00+00:00") == 1
    client.post(
        f"/v1/subscriptions/{sub['id']}/end",
        json={"end": "2026-11-21T00:00:00+00:00"},
        headers=admin,
    )
    assert charge(runtime, clock, "2026-11-21T00:00:00+00:00") == 1
    assert [x["amount"] for x in fee_xdrs(client, admin, account, 2)] == ["30.00", "-10.00"]


def test_weekly_and_daily_periods_follow_the_customers_zone(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None, time_zone="Asia/Tokyo")
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="7.00", period="weekly")
    clock.set(datetime(2026, 11, 4, tzinfo=UTC))
    # Wednesday 4 November, 00:00 UTC is 09:00 in Tokyo: Wed..Sun is 5 of 7 days
    subscribe(client, admin, account, made["id"], "2026-11-04T00:00:00+00:00")
    assert charge(runtime, clock, "2026-11-04T00:00:00+00:00") == 1
    assert charge(runtime, clock, "2026-11-08T15:00:00+00:00") == 1  # Monday 00:00 Tokyo
    first, second = fee_xdrs(client, admin, account, 2)
    assert (first["amount"], second["amount"]) == ("5.00", "7.00")
    assert first["connect_time"] == "2026-11-01T15:00:00Z"  # Monday 00:00 in Tokyo


def test_a_plan_applied_once_cannot_be_applied_again_unless_it_allows_it(
    client: TestClient, admin: Headers, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    account = setup["account"]["id"]
    once = plan(client, admin, setup["product"]["id"])
    many = plan(client, admin, setup["product"]["id"], name="Bundle", multiple=True)
    start = "2026-11-01T00:00:00+00:00"
    assert subscribe(client, admin, account, once["id"], start).status_code == 201
    assert_problem(subscribe(client, admin, account, once["id"], start), 409, "duplicate")
    assert subscribe(client, admin, account, many["id"], start).status_code == 201
    assert subscribe(client, admin, account, many["id"], start).status_code == 201
    listed = client.get(f"/v1/accounts/{account}/subscriptions", headers=admin).json()
    assert len(listed["items"]) == 3


def test_an_account_without_the_plans_product_is_refused(
    client: TestClient, admin: Headers
) -> None:
    setup = billed_account(client, admin, None)
    other = create(client, admin, "products", name="Other", kind="add_on")
    made = plan(client, admin, other["id"])
    answer = subscribe(
        client, admin, setup["account"]["id"], made["id"], "2026-11-01T00:00:00+00:00"
    )
    assert_problem(answer, 422, "invalid_value")


def test_first_usage_activation_charges_from_the_first_call(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    from tests.integration.billing_helpers import rate, tariff, usage

    made_tariff = tariff(client, admin, [rate("44", "0.60")])
    setup = billed_account(client, admin, made_tariff["id"])
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00", activation="first_usage")
    clock.set(datetime(2026, 11, 1, tzinfo=UTC))
    subscribe(client, admin, account, made["id"], "2026-11-01T00:00:00+00:00")
    assert charge(runtime, clock, "2026-11-05T00:00:00+00:00") == 0  # no usage yet
    assert usage(client, admin, account, "4420", 60, at="2026-11-21T10:00:00+00:00").status_code
    runtime.rater().catch_up()
    eventually(lambda: len(fee_or_calls(client, admin, account)) == 1, timeout=10)
    assert charge(runtime, clock, "2026-11-22T00:00:00+00:00") == 1
    (fee,) = fee_xdrs(client, admin, account, 1)
    assert fee["amount"] == "10.00"  # from 21 November: 10 of 30 days


def fee_or_calls(client: TestClient, admin: Headers, account: str) -> list[Any]:
    items: list[Any] = client.get("/v1/xdrs", params={"account_id": account}, headers=admin).json()[
        "items"
    ]
    return items


def test_a_removed_plan_and_a_product_taken_away_end_subscriptions(
    client: TestClient, admin: Headers, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    account = setup["account"]["id"]
    first = plan(client, admin, setup["product"]["id"])
    second = plan(client, admin, setup["product"]["id"], name="Second")
    clock.set(datetime(2026, 11, 1, tzinfo=UTC))
    a = subscribe(client, admin, account, first["id"], "2026-11-01T00:00:00+00:00").json()
    b = subscribe(client, admin, account, second["id"], "2026-11-01T00:00:00+00:00").json()
    clock.set(datetime(2026, 11, 5, tzinfo=UTC))
    assert client.delete(f"/v1/subscription-plans/{first['id']}", headers=admin).status_code == 204
    shown = client.get(f"/v1/subscriptions/{a['id']}", headers=admin).json()
    assert shown["end_reason"] == "the plan was removed"
    assert shown["ended_at"].startswith("2026-11-05")
    clock.set(datetime(2026, 11, 7, tzinfo=UTC))
    patched = client.patch(f"/v1/accounts/{account}", json={"product_id": None}, headers=admin)
    assert patched.status_code == 200, patched.text

    def ended() -> dict[str, Any] | None:
        row = client.get(f"/v1/subscriptions/{b['id']}", headers=admin).json()
        return row if row["ended_at"] else None

    row = eventually(ended, timeout=10)
    assert row["end_reason"] == "the account no longer holds the product"
    assert row["ended_at"].startswith("2026-11-07")


def test_bad_plans_are_refused_and_nothing_is_recorded(client: TestClient, admin: Headers) -> None:
    setup = billed_account(client, admin, None)
    product = setup["product"]["id"]
    for bad in (
        {"fee": 30},
        {"fee": "-1"},
        {"period": "yearly"},
        {"precision": 7},
        {"credit_conditions": ["rain"]},
        {"prepaid_months": 0},
    ):
        body = {"name": "Bad", "product_id": product, "fee": "1", "currency": "EUR", **bad}
        answer = client.post("/v1/subscription-plans", json=body, headers=admin)
        assert answer.status_code == 422, (bad, answer.text)
    assert client.get("/v1/subscription-plans", headers=admin).json()["items"] == []


def emit_every_subscription_event(rt: Runtime, ctx: Any) -> None:
    """One use case of each subscription kind, for the store -> Kafka round trip."""
    from decimal import Decimal

    from domain.billing.subscriptions import PlanSpec
    from domain.shared.owners import Owner

    directory, provisioning, billing = rt.directory, rt.services["provisioning"], service(rt)
    customer = directory.create_customer(ctx, "Subscriber", "EUR", "UTC", None, None, None)
    account = directory.create_account(ctx, customer, "subscriber-1", "subscriber-pass")
    product = provisioning.create_product(ctx, "Subscribed product", "main")  # type: ignore[attr-defined]
    provisioning.set_agreement(ctx, Owner(None, customer), [(product, 0)])  # type: ignore[attr-defined]
    provisioning.set_products(ctx, Owner(None, customer), account, [product])  # type: ignore[attr-defined]
    plan_id = billing.create_plan(ctx, PlanSpec("Round trip plan", product, Decimal(10), "EUR"))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    sub = billing.subscribe(ctx, account, plan_id, start)
    billing.adjust_subscription(ctx, sub, "relative_discount", Decimal(10))
    billing.edit_plan(ctx, plan_id, "round trip", fee=Decimal(12), name="Round trip plan 2")
    klass = billing.create_customer_class(ctx, "Round trip edited class", "away_from_zero", 2, 2)
    billing.edit_customer_class(ctx, klass, "round trip", rounding_method="malaysian")
    billing.end_subscription(ctx, sub, datetime(2026, 11, 20, tzinfo=UTC))
    outage = billing.record_outage(ctx, "suspended", customer, None, start)
    billing.end_outage(ctx, outage, datetime(2026, 11, 2, tzinfo=UTC))
    billing.remove_plan(ctx, plan_id)
