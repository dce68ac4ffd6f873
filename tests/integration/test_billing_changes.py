"""Billing changes through the API, on SQLite and PostgreSQL: a customer class edited (a
rounding fix, reprocessed with its cause), subscription plans edited, fee changes inside a
charged period prorated by whole days, multi-month prepaid plans, and the faults around
them (a change while the charger runs, the charger restarted mid-round, bad input)."""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from adapters.charger import CHARGER, Charger
from adapters.clock import FileClock
from composition.billing import charger, invoicer, service
from composition.runtime import Runtime
from domain.billing import fees
from domain.billing.rounding import Rounding, RoundingRule
from domain.shared.actor import CommandContext
from tests.integration.billing_helpers import Headers, billed_account, rate, tariff, usage
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create
from tests.integration.test_billing_invoices import close, wait_job
from tests.integration.test_billing_subscriptions import charge, fee_xdrs, plan, subscribe
from tests.integration.test_billing_subscriptions_rules import NOV, adjust, admin_at

DAY_11 = "2026-11-11T09:00:00+00:00"
DEC = "2026-12-01T00:00:00+00:00"


def edit_plan(client: TestClient, headers: Headers, plan_id: str, **body: Any) -> Any:
    return client.patch(f"/v1/subscription-plans/{plan_id}", json=body, headers=headers)


def amounts(xdrs: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(xdrs, key=lambda x: (x["connect_time"], x["amount"]))
    return [x["amount"] for x in ordered]


# -- customer classes --------------------------------------------------------------------
def test_a_rounding_fix_on_the_class_is_reprocessed_with_its_cause_and_replays_keep_hashes(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    """Seed 000: 1.214, 1.215 and 1.216 are 1.22 away from zero; half away from zero makes
    1.214 1.21 and keeps the others."""
    klass = create(client, admin, "customer-classes", name="Standard")
    prices = tariff(
        client, admin, [rate("441", "1.214"), rate("442", "1.215"), rate("443", "1.216")]
    )
    setup = billed_account(client, admin, prices["id"], class_id=klass["id"])
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    for cld in ("4410", "4420", "4430"):
        assert usage(client, admin, account, cld, 60).status_code == 201
    old = close(client, admin, customer, "2026-10").json()
    assert old["total"] == "3.66"
    fixed = client.patch(
        f"/v1/customer-classes/{klass['id']}",
        json={"rounding": "half_away_from_zero", "reason": "the regulator's rule"},
        headers=admin,
    )
    assert fixed.status_code == 200, fixed.text
    assert (fixed.json()["rounding"], fixed.json()["version"]) == ("half_away_from_zero", 2)
    shown = client.get(f"/v1/customer-classes/{klass['id']}", headers=admin).json()
    assert shown["rounding"] == "half_away_from_zero" and shown["usage_precision"] == 2
    answer = client.post(
        "/v1/billing/reprocess",
        json={"period": "2026-10", "reason": "rounding fix"},
        headers=admin,
    )
    assert answer.status_code == 202, answer.text
    job = wait_job(client, admin, answer.json()["id"])
    (entry,) = job["invoices"]
    assert (entry["old_total"], entry["new_total"]) == ("3.66", "3.65")
    (change,) = entry["changes"]
    assert (change["old_amount"], change["new_amount"]) == ("1.22", "1.21")
    assert change["cause"] == (
        "rounding changed: class Standard away_from_zero/2 -> half_away_from_zero/2"
        " (the regulator's rule)"
    )
    replayer = invoicer(runtime)
    assert replayer.replay(UUID(customer), "2026-10", version=1).content_hash == old["content_hash"]
    assert replayer.replay(UUID(customer), "2026-10", version=2).content_hash != old["content_hash"]
    # calls rated from now on use the fixed rule
    later = usage(client, admin, account, "4410", 60, at="2026-11-05T10:00:00+00:00")
    assert later.json()["amount"] == "1.21" and later.json()["rounding"] == "half_away_from_zero"


BAD_CLASS_EDITS = (
    {"invoice_precision": 7, "reason": "r"},
    {"usage_precision": -1, "reason": "r"},
    {"rounding": "bankers", "reason": "r"},
    {"rounding": "malaysian"},  # a rule change needs a reason
    {"rounding": "malaysian", "reason": ""},
    {"colour": "red", "reason": "r"},
)


def test_a_bad_class_edit_is_refused_and_nothing_is_recorded(
    client: TestClient, admin: Headers, log_size: Any
) -> None:
    klass = create(client, admin, "customer-classes", name="Standard")
    before = log_size()
    for body in BAD_CLASS_EDITS:
        answer = client.patch(f"/v1/customer-classes/{klass['id']}", json=body, headers=admin)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["code"] in ("invalid_value", "validation_error"), answer.text
    assert log_size() == before
    shown = client.get(f"/v1/customer-classes/{klass['id']}", headers=admin).json()
    assert (shown["rounding"], shown["version"]) == ("away_from_zero", 1)


def test_a_class_is_renamed_without_a_reason_to_a_free_name_only(
    client: TestClient, admin: Headers
) -> None:
    klass = create(client, admin, "customer-classes", name="Standard")
    create(client, admin, "customer-classes", name="Taken")
    path = f"/v1/customer-classes/{klass['id']}"
    assert_problem(client.patch(path, json={"name": "Taken"}, headers=admin), 409, "duplicate")
    renamed = client.patch(path, json={"name": "Retail"}, headers=admin)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Retail"
    again = create(client, admin, "customer-classes", name="Standard")  # the old name is free
    assert again["name"] == "Standard"
    missing = "/v1/customer-classes/00000000-0000-4000-8000-000000000000"
    assert_problem(client.patch(missing, json={"name": "X"}, headers=admin), 404, "not_found")


def test_only_admins_edit_classes_and_a_restricting_role_gets_permission_denied(
    client: TestClient, admin: Headers, log_size: Any
) -> None:
    klass = create(client, admin, "customer-classes", name="Standard")
    customer = create(
        client,
        admin,
        "customers",
        name="Other",
        currency="EUR",
        time_zone="UTC",
        login="other",
        password="other-password",
    )
    path = f"/v1/customer-classes/{klass['id']}"
    body = {"rounding": "malaysian", "reason": "mine"}
    before = log_size()
    own = login(client, "other", "other-password")
    assert client.patch(path, json=body, headers=own).status_code == 403
    assert log_size() == before
    role = create(client, admin, "roles", name="No billing", permissions={"billing": "restrict"})
    given = client.put(
        f"/v1/customers/{customer['id']}/role", json={"role_id": role["id"]}, headers=admin
    )
    assert given.status_code == 200, given.text
    own = login(client, "other", "other-password")
    before = log_size()
    refused = client.patch(path, json=body, headers=own)
    assert_problem(refused, 403, "permission_denied")
    assert log_size() == before


# -- plans edited -------------------------------------------------------------------------
def test_a_plan_fee_raised_mid_month_in_advance_corrects_the_charged_month_then_charges_it(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00")
    headers = admin_at(client, clock, NOV)
    subscribe(client, headers, account, made["id"], NOV)
    assert charge(runtime, clock, NOV) == 1
    headers = admin_at(client, clock, DAY_11)
    edited = edit_plan(client, headers, made["id"], fee="45.00", reason="new price list")
    assert edited.status_code == 200, edited.text
    shown = edited.json()
    assert shown["fee"] == "45.00" and shown["version"] == 2
    (change,) = shown["fee_changes"]
    assert (change["fee"], change["reason"]) == ("45.00", "new price list")
    assert change["effective"].startswith("2026-11-11T09:00:00")
    (listed,) = client.get("/v1/subscription-plans", headers=headers).json()["items"]
    assert listed["fee_changes"] == shown["fee_changes"]
    assert charge(runtime, clock, DAY_11) == 1
    assert charge(runtime, clock, DAY_11) == 0
    xdrs = fee_xdrs(client, headers, account, 2)
    # 20 days (11 to 30 November) at 15.00 more: +10.00
    assert amounts(xdrs) == ["30.00", "10.00"]
    (fix,) = [x for x in xdrs if x["amount"] == "10.00"]
    assert fix["quantity"] == "20" and fix["connect_time"].startswith("2026-11-11T00:00")
    assert "30.00 -> 45.00" in fix["rate"]["detail"]
    charge(runtime, clock, DEC)
    assert amounts(fee_xdrs(client, headers, account, 3)) == ["30.00", "10.00", "45.00"]


def test_a_fee_change_scheduled_for_next_month_leaves_this_month_as_charged(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00", name="Renamed later")
    headers = admin_at(client, clock, NOV)
    subscribe(client, headers, account, made["id"], NOV)
    headers = admin_at(client, clock, "2026-11-20T00:00:00+00:00")
    edited = edit_plan(
        client,
        headers,
        made["id"],
        fee="20.00",
        effective=DEC,
        name="Calls 100 2027",
        credit_conditions=["blocked"],
        reason="yearly review",
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["name"] == "Calls 100 2027"
    assert edited.json()["credit_conditions"] == ["blocked"]
    charge(runtime, clock, "2026-11-30T12:00:00+00:00")
    assert amounts(fee_xdrs(client, headers, account, 1)) == ["30.00"]
    charge(runtime, clock, DEC)
    assert amounts(fee_xdrs(client, headers, account, 2)) == ["30.00", "20.00"]


def test_a_discount_from_day_11_in_advance_gives_a_minus_10_correction(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    """A 30-day month, fee 30.00, 50 % off from the 11th: 30.00 then -10.00."""
    setup = billed_account(client, admin, None)
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00")
    headers = admin_at(client, clock, NOV)
    sub = subscribe(client, headers, account, made["id"], NOV).json()
    charge(runtime, clock, NOV)
    headers = admin_at(client, clock, DAY_11)
    assert adjust(client, headers, sub["id"], "relative_discount", "50").status_code == 200
    charge(runtime, clock, DAY_11)
    assert amounts(fee_xdrs(client, headers, account, 2)) == ["30.00", "-10.00"]
    headers = admin_at(client, clock, "2026-11-21T09:00:00+00:00")
    removed = client.delete(f"/v1/subscriptions/{sub['id']}/adjustments", headers=headers)
    assert removed.status_code == 200, removed.text
    charge(runtime, clock, "2026-11-21T09:00:00+00:00")
    # the full fee again for the 10 days from the 21st: +5.00
    assert amounts(fee_xdrs(client, headers, account, 3)) == ["30.00", "-10.00", "5.00"]


def test_a_discount_from_day_11_in_arrears_charges_10_days_at_30_and_20_at_15(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00", charged="in_arrears")
    headers = admin_at(client, clock, NOV)
    sub = subscribe(client, headers, account, made["id"], NOV).json()
    headers = admin_at(client, clock, DAY_11)
    assert adjust(client, headers, sub["id"], "relative_discount", "50").status_code == 200
    assert charge(runtime, clock, "2026-11-30T23:00:00+00:00") == 0
    assert charge(runtime, clock, DEC) == 1
    (fee,) = fee_xdrs(client, headers, account, 1)
    assert fee["amount"] == "20.00" and fee["quantity"] == "30"
    assert fee["rate"]["detail"].endswith("10 day(s) at 30.00, 20 day(s) at 15.00")
    headers = admin_at(client, clock, "2026-12-01T02:00:00+00:00")
    closed = close(client, headers, customer, "2026-11")
    assert closed.status_code == 201, closed.text
    assert closed.json()["total"] == "20.00"


def test_an_account_discount_leaves_the_resellers_price_whole(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    reseller = create(client, admin, "resellers", name="ABC Shuttle")
    setup = billed_account(client, admin, None, reseller_id=reseller["id"])
    account, product = setup["account"]["id"], setup["product"]["id"]
    mine = plan(client, admin, product, fee="30.00", name="Recording")
    theirs = plan(client, admin, product, fee="10.00", name="Resale", level="reseller")
    headers = admin_at(client, clock, NOV)
    sub = subscribe(client, headers, account, mine["id"], NOV).json()
    subscribe(client, headers, account, theirs["id"], NOV)
    charge(runtime, clock, NOV)
    headers = admin_at(client, clock, DAY_11)
    assert adjust(client, headers, sub["id"], "relative_discount", "50").status_code == 200
    charge(runtime, clock, DAY_11)
    assert amounts(fee_xdrs(client, headers, account, 2)) == ["30.00", "-10.00"]
    assert amounts(fee_xdrs(client, headers, account, 1, level="reseller")) == ["10.00"]


BAD_PLAN_EDITS = (
    ({"fee": "45.00"}, "validation_error"),  # no reason
    ({"fee": "45.00", "reason": ""}, "validation_error"),
    ({"fee": 45, "reason": "r"}, "validation_error"),  # money is a string
    ({"fee": "-1", "reason": "r"}, "validation_error"),
    (
        {"fee": "45.00", "effective": "2026-11-10T00:00:00+00:00", "reason": "r"},
        "invalid_value",
    ),
    ({"fee": "45.00", "effective": "2026-12-01T00:00:00", "reason": "r"}, "validation_error"),
    ({"effective": DEC, "reason": "r"}, "invalid_value"),  # a date without a fee
    ({"reason": "nothing"}, "invalid_value"),
    ({"credit_conditions": ["rain"], "reason": "r"}, "validation_error"),
    ({"currency": "USD", "reason": "r"}, "validation_error"),  # not editable
)


def test_a_bad_plan_edit_is_refused_and_nothing_is_recorded(
    client: TestClient, admin: Headers, clock: FileClock, log_size: Any
) -> None:
    setup = billed_account(client, admin, None)
    made = plan(client, admin, setup["product"]["id"], fee="30.00")
    headers = admin_at(client, clock, DAY_11)
    before = log_size()
    for body, code in BAD_PLAN_EDITS:
        answer = edit_plan(client, headers, made["id"], **body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["code"] == code, (body, answer.text)
    assert log_size() == before
    shown = client.get(f"/v1/subscription-plans/{made['id']}", headers=headers).json()
    assert (shown["fee"], shown["version"], shown["fee_changes"]) == ("30.00", 1, [])


def test_a_reseller_edits_its_own_plan_and_its_customers_discount_shows_in_their_charges(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    reseller = create(client, admin, "resellers", name="R", login="r", password="r-password")
    setup = billed_account(client, admin, None, reseller_id=reseller["id"])
    account, product = setup["account"]["id"], setup["product"]["id"]
    clock.set(datetime.fromisoformat(NOV))
    own_headers = login(client, "r", "r-password")
    own = create(
        client,
        own_headers,
        "subscription-plans",
        name="Own",
        product_id=product,
        fee="20.00",
        currency="EUR",
    )
    shared = plan(client, admin, product, fee="30.00", name="Shared")
    assert_problem(
        edit_plan(client, own_headers, shared["id"], fee="1.00", reason="not mine"),
        404,
        "not_found",
    )
    subscribe(client, own_headers, account, own["id"], NOV)
    charge(runtime, clock, NOV)
    clock.set(datetime.fromisoformat("2026-11-16T00:00:00+00:00"))
    own_headers = login(client, "r", "r-password")
    edited = edit_plan(client, own_headers, own["id"], fee="26.00", reason="costs went up")
    assert edited.status_code == 200, edited.text
    assert edited.json()["fee_changes"][0]["actor"] == reseller["id"]
    charge(runtime, clock, "2026-11-16T00:00:00+00:00")
    # 15 days (16 to 30 November) at 6.00 more: +3.00
    assert amounts(fee_xdrs(client, own_headers, account, 2)) == ["20.00", "3.00"]


def test_a_removed_plan_or_anothers_plan_cannot_be_edited(
    client: TestClient, admin: Headers, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    made = plan(client, admin, setup["product"]["id"], fee="30.00")
    reseller = create(
        client, admin, "resellers", name="R", login="rsl", password="reseller-password"
    )
    assert reseller["id"]
    theirs = login(client, "rsl", "reseller-password")
    answer = edit_plan(client, theirs, made["id"], fee="1.00", reason="mine now")
    assert_problem(answer, 404, "not_found")
    assert client.delete(f"/v1/subscription-plans/{made['id']}", headers=admin).status_code == 204
    answer = edit_plan(client, admin, made["id"], fee="1.00", reason="too late")
    assert_problem(answer, 409, "conflict")


# -- multi-month prepaid plans ---------------------------------------------------------------
def test_a_three_month_prepaid_plan_is_charged_once_per_term_and_not_refunded_on_stop(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="90.00", prepaid_months=3)
    headers = admin_at(client, clock, NOV)
    sub = subscribe(client, headers, account, made["id"], NOV).json()
    assert charge(runtime, clock, NOV) == 1
    assert charge(runtime, clock, DEC) == 0
    assert charge(runtime, clock, "2027-01-31T00:00:00+00:00") == 0
    (term,) = fee_xdrs(client, headers, account, 1)
    assert term["amount"] == "90.00" and term["quantity"] == "92"
    assert term["disconnect_time"].startswith("2027-02-01T00:00")
    refused = adjust(client, headers, sub["id"], "relative_discount", "10")
    assert_problem(refused, 422, "invalid_adjustment")
    headers = admin_at(client, clock, "2027-02-01T00:00:00+00:00")
    charge(runtime, clock, "2027-02-01T00:00:00+00:00")
    assert amounts(fee_xdrs(client, headers, account, 2)) == ["90.00", "90.00"]
    headers = admin_at(client, clock, "2027-02-10T00:00:00+00:00")
    ended = client.post(f"/v1/subscriptions/{sub['id']}/end", json={}, headers=headers)
    assert ended.status_code == 200, ended.text
    assert charge(runtime, clock, "2027-06-01T00:00:00+00:00") == 0  # no refund, no term


@pytest.mark.parametrize(
    "fields", [{"period": "weekly"}, {"charged": "in_arrears"}, {"prepaid_months": 37}]
)
def test_a_prepaid_plan_is_monthly_and_in_advance(
    client: TestClient, admin: Headers, fields: dict[str, Any]
) -> None:
    setup = billed_account(client, admin, None)
    body = {"name": "Bad", "product_id": setup["product"]["id"], "fee": "90", "currency": "EUR"}
    answer = client.post(
        "/v1/subscription-plans", json={**body, "prepaid_months": 3, **fields}, headers=admin
    )
    assert answer.status_code == 422, answer.text


# -- faults ----------------------------------------------------------------------------------
def test_changes_while_the_charger_runs_lose_and_double_nothing(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00")
    headers = admin_at(client, clock, NOV)
    sub = subscribe(client, headers, account, made["id"], NOV).json()
    headers = admin_at(client, clock, DAY_11)
    stop = threading.Event()
    rounds: list[int] = []

    def keep_charging() -> None:
        while not stop.is_set():
            rounds.append(charger(runtime).charge())

    worker = threading.Thread(target=keep_charging)
    worker.start()
    try:
        for day, value in ((11, "50"), (16, "20"), (21, "10")):
            headers = admin_at(client, clock, f"2026-11-{day}T09:00:00+00:00")
            answer = adjust(client, headers, sub["id"], "relative_discount", value)
            assert answer.status_code == 200, answer.text
        plan_change = edit_plan(client, headers, made["id"], fee="60.00", reason="raise")
        assert plan_change.status_code == 200, plan_change.text
    finally:
        stop.set()
        worker.join()
    charge(runtime, clock, "2026-11-21T09:00:00+00:00")
    assert charge(runtime, clock, "2026-11-21T09:00:00+00:00") == 0
    xdrs = fee_xdrs(client, headers, account, 5)
    assert len(xdrs) == 5 and sum(rounds) <= 5  # the fee and a correction per change
    # 10 days at 30, 5 at 15, 5 at 24, 10 at 54 (60 less 10 %)
    total = sum(Decimal(x["amount"]) for x in xdrs)
    assert total == Decimal("10.00") + Decimal("2.50") + Decimal("4.00") + Decimal("18.00")


def test_a_charger_restarted_mid_round_makes_the_rest_once(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00")
    headers = admin_at(client, clock, NOV)
    sub = subscribe(client, headers, account, made["id"], NOV).json()
    headers = admin_at(client, clock, DAY_11)
    adjust(client, headers, sub["id"], "relative_discount", "50")
    headers = admin_at(client, clock, "2026-12-05T00:00:00+00:00")
    # the first charger computed the round and appended only its first charge, then died
    first = Charger(service(runtime), runtime.db, runtime.clock)
    (row,) = first.queries.running("2026-01-01")
    term = first._term(row)
    assert term is not None
    due = fees.due(term, clock.now(), RoundingRule(Rounding.AWAY_FROM_ZERO, 2))
    assert [c.key.split(":")[0] for c in due] == ["fee", "change", "fee"]
    leg = due[0].leg_id(term.id)
    assert (
        service(runtime).record_xdrs(
            [(first._xdr(row, term, leg, due[0]), CommandContext(CHARGER))]
        )
        == 1
    )
    restarted = Charger(service(runtime), runtime.db, runtime.clock)
    assert restarted.charge() == 2
    assert Charger(service(runtime), runtime.db, runtime.clock).charge() == 0
    assert amounts(fee_xdrs(client, headers, account, 3)) == ["30.00", "-10.00", "15.00"]


def test_a_customer_can_neither_edit_nor_remove_the_operators_plan(
    client: TestClient, admin: Headers
) -> None:
    setup = billed_account(client, admin, None)
    made = plan(client, admin, setup["product"]["id"], fee="10.00")
    create(
        client,
        admin,
        "customers",
        name="Nosy",
        currency="EUR",
        time_zone="UTC",
        login="nosy",
        password="nosy-password",
    )
    theirs = login(client, "nosy", "nosy-password")
    edited = client.patch(
        f"/v1/subscription-plans/{made['id']}",
        json={"fee": "0.00", "reason": "free for me"},
        headers=theirs,
    )
    assert_problem(edited, 403, "forbidden")
    removed = client.delete(f"/v1/subscription-plans/{made['id']}", headers=theirs)
    assert_problem(removed, 403, "forbidden")
    shown = client.get(f"/v1/subscription-plans/{made['id']}", headers=admin).json()
    assert shown["fee"] == "10.00" and shown.get("removed_at") is None
