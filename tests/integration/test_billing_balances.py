"""Customers' funds through the API: payment terms on the customer, payments once per
reference, the balance (payments - charges, available with the credit limit), the funds
watcher's no-funds outages and their credits (seed 003), and calls refused without funds;
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from fastapi.testclient import TestClient

from adapters.clock import FileClock
from adapters.funds import FundsWatcher
from composition.balances import watcher
from composition.billing import service
from composition.runtime import Runtime
from domain.billing.balances import FUNDS, no_funds_outage_id
from domain.shared.actor import Actor, CommandContext
from projections.subscriptions import SubscriptionQueries
from tests.conftest import eventually
from tests.integration.billing_helpers import Headers, billed_account, rate, tariff, usage
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create
from tests.integration.test_billing_invoices import close, wait_job
from tests.integration.test_billing_subscriptions import (
    charge,
    fee_xdrs,
    plan,
    settled,
    subscribe,
)
from tests.integration.test_billing_subscriptions_rules import admin_at

OPS = CommandContext(Actor.system("test", login="ops"))


def terms(client: TestClient, headers: Headers, customer_id: str, **body: Any) -> Any:
    return client.patch(
        f"/v1/customers/{customer_id}", json={"payment_terms": body}, headers=headers
    )


def pay(client: TestClient, headers: Headers, customer_id: str, amount: Any, **more: Any) -> Any:
    body = {"amount": amount, "reference": more.pop("reference", "bank-1"), **more}
    return client.post(f"/v1/customers/{customer_id}/payments", json=body, headers=headers)


def balance(client: TestClient, headers: Headers, customer_id: str) -> dict[str, Any]:
    answer = client.get(f"/v1/customers/{customer_id}/balance", headers=headers)
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def balance_when(
    client: TestClient, headers: Headers, customer_id: str, **expected: Any
) -> dict[str, Any]:
    """The balance once it shows `expected` (the rater and read models run behind)."""

    def shown() -> dict[str, Any] | None:
        found = balance(client, headers, customer_id)
        return found if all(found[k] == v for k, v in expected.items()) else None

    found: dict[str, Any] = eventually(shown, timeout=15)
    return found


def prepaid_caller(client: TestClient, admin: Headers, name: str = "ABC") -> dict[str, Any]:
    """A prepaid customer whose calls to 44 cost 0.60 a minute."""
    made = tariff(client, admin, [rate("44", "0.60")], name=f"{name} tariff")
    setup = billed_account(client, admin, made["id"], name=name)
    answer = terms(client, admin, setup["customer"]["id"], mode="prepaid")
    assert answer.status_code == 200, answer.text
    return {**setup, "tariff_id": made["id"]}


def outages(runtime: Runtime, customer_id: str, account_id: str) -> list[dict[str, Any]]:
    rows = SubscriptionQueries(runtime.db).outages(account_id, customer_id)
    return [dict(r) for r in rows if r["condition"] == "no_funds"]


# -- payment terms ----------------------------------------------------------------------
def test_payment_terms_are_set_on_the_customer_and_prepaid_defaults_to_a_zero_limit(
    client: TestClient, admin: Headers
) -> None:
    reseller = create(client, admin, "resellers", name="R1", login="r1", password="r1-password")
    customer = create(
        client,
        admin,
        "customers",
        name="C",
        currency="EUR",
        time_zone="UTC",
        reseller_id=reseller["id"],
    )
    assert customer["payment_terms"] == {"mode": "postpaid", "credit_limit": None}
    answer = terms(client, admin, customer["id"], mode="prepaid")
    assert answer.status_code == 200, answer.text
    assert answer.json()["payment_terms"] == {"mode": "prepaid", "credit_limit": "0"}
    by_reseller = login(client, "r1", "r1-password")
    answer = terms(client, by_reseller, customer["id"], mode="postpaid", credit_limit="150.00")
    assert answer.status_code == 200, answer.text
    shown = client.get(f"/v1/customers/{customer['id']}", headers=admin).json()
    assert shown["payment_terms"] == {"mode": "postpaid", "credit_limit": "150.00"}
    answer = terms(client, admin, customer["id"], credit_limit=None)  # no limit
    assert answer.json()["payment_terms"] == {"mode": "postpaid", "credit_limit": None}
    assert terms(client, admin, customer["id"], mode="prepaid").status_code == 200
    reset = client.patch(
        f"/v1/customers/{customer['id']}", json={"payment_terms": None}, headers=admin
    )
    assert reset.status_code == 200, reset.text
    assert reset.json()["payment_terms"] == {"mode": "postpaid", "credit_limit": None}
    audit = client.get(
        "/v1/audit", params={"type": "billing.PaymentTerms.Revised"}, headers=admin
    ).json()["items"]
    assert reseller["id"] in {e["actor"]["id"] for e in audit}


def test_bad_payment_terms_are_refused_and_change_nothing(
    client: TestClient, admin: Headers, log_size: Any
) -> None:
    customer = create(
        client,
        admin,
        "customers",
        name="C",
        currency="EUR",
        time_zone="UTC",
        login="c",
        password="c-password",
    )
    before = log_size()
    for body, status, code in (
        ({"mode": "prepaid", "credit_limit": None}, 422, "invalid_value"),
        ({"mode": "barter"}, 422, "validation_error"),
        ({"credit_limit": "abc"}, 422, "validation_error"),
        ({"credit_limit": 10.5}, 422, "validation_error"),
        ({"credit_limit": "-5"}, 422, "validation_error"),
        ({"limit": "5"}, 422, "validation_error"),
    ):
        assert_problem(terms(client, admin, customer["id"], **body), status, code)
    own = login(client, "c", "c-password")
    assert terms(client, own, customer["id"], mode="prepaid").status_code == 403
    assert log_size() == before


# -- payments ---------------------------------------------------------------------------
def test_a_payment_posted_twice_is_recorded_once_and_another_amount_is_refused(
    client: TestClient, admin: Headers, log_size: Any
) -> None:
    customer = create(client, admin, "customers", name="C", currency="EUR", time_zone="UTC")["id"]
    first = pay(client, admin, customer, "20.00", reference="bank-7", note="October top-up")
    assert first.status_code == 201, first.text
    made = first.json()
    assert (made["amount"], made["currency"], made["kind"]) == ("20.00", "EUR", "payment")
    before = log_size()
    again = pay(client, admin, customer, "20.00", reference="bank-7", note="October top-up")
    assert again.status_code == 200 and again.json() == made
    assert_problem(
        pay(client, admin, customer, "25.00", reference="bank-7"), 409, "payment_reference_reused"
    )
    assert log_size() == before
    listed = client.get(f"/v1/customers/{customer}/payments", headers=admin).json()["items"]
    assert [p["id"] for p in listed] == [made["id"]]
    assert balance(client, admin, customer)["payments"] == "20.00"


def test_a_refund_lowers_the_balance(client: TestClient, admin: Headers) -> None:
    customer = create(client, admin, "customers", name="C", currency="EUR", time_zone="UTC")["id"]
    assert pay(client, admin, customer, "20.00").status_code == 201
    refund = pay(client, admin, customer, "5.50", reference="refund-1", kind="refund")
    assert refund.status_code == 201, refund.text
    assert refund.json()["amount"] == "-5.50"
    shown = balance(client, admin, customer)
    assert (shown["payments"], shown["balance"], shown["available"]) == ("14.50", "14.50", None)


def test_concurrent_payments_with_different_references_both_count(
    client: TestClient, admin: Headers
) -> None:
    customer = create(client, admin, "customers", name="C", currency="EUR", time_zone="UTC")["id"]
    answers: list[int] = []

    def post(reference: str) -> None:
        answers.append(pay(client, admin, customer, "10.01", reference=reference).status_code)

    threads = [threading.Thread(target=post, args=(f"ref-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [201] * 4
    assert balance_when(client, admin, customer, payments="40.04")["balance"] == "40.04"


def test_bad_payments_are_refused_with_a_code_and_nothing_recorded(
    client: TestClient, admin: Headers, log_size: Any
) -> None:
    customer = create(
        client,
        admin,
        "customers",
        name="C",
        currency="EUR",
        time_zone="UTC",
        login="c",
        password="c-password",
    )["id"]
    role = create(client, admin, "roles", name="Billing read", permissions={"billing": "read"})
    put = client.put(f"/v1/customers/{customer}/role", json={"role_id": role["id"]}, headers=admin)
    assert put.status_code == 200, put.text
    own = login(client, "c", "c-password")
    before = log_size()
    for amount, status, code in (
        ("abc", 422, "validation_error"),
        (12.5, 422, "validation_error"),
        ("0", 422, "invalid_value"),
        ("0.00", 422, "invalid_value"),
        ("-3", 422, "validation_error"),
    ):
        assert_problem(pay(client, admin, customer, amount), status, code)
    missing = client.post(
        f"/v1/customers/{customer}/payments", json={"amount": "5.00"}, headers=admin
    )
    assert_problem(missing, 422, "validation_error")
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_problem(pay(client, admin, unknown, "5.00"), 404, "not_found")
    assert_problem(pay(client, own, customer, "5.00"), 403, "permission_denied")
    assert log_size() == before


def test_the_customer_reads_its_own_payments_and_balance_and_no_one_elses(
    client: TestClient, admin: Headers
) -> None:
    customer = create(
        client,
        admin,
        "customers",
        name="C",
        currency="EUR",
        time_zone="UTC",
        login="c",
        password="c-password",
    )["id"]
    other = create(client, admin, "customers", name="D", currency="EUR", time_zone="UTC")["id"]
    assert pay(client, admin, customer, "9.99").status_code == 201
    own = login(client, "c", "c-password")
    listed = client.get(f"/v1/customers/{customer}/payments", headers=own)
    assert listed.status_code == 200 and listed.json()["items"][0]["amount"] == "9.99"
    assert balance(client, own, customer)["payments"] == "9.99"
    for path in ("payments", "balance"):
        refused = client.get(f"/v1/customers/{other}/{path}", headers=own)
        assert_problem(refused, 404, "not_found")
    role = create(client, admin, "roles", name="No billing", permissions={"billing": "restrict"})
    client.put(f"/v1/customers/{customer}/role", json={"role_id": role["id"]}, headers=admin)
    restricted = login(client, "c", "c-password")
    refused = client.get(f"/v1/customers/{customer}/payments", headers=restricted)
    assert_problem(refused, 403, "permission_denied")


def test_one_reference_posted_at_once_from_four_clients_is_one_payment(
    client: TestClient, admin: Headers
) -> None:
    customer = create(client, admin, "customers", name="C", currency="EUR", time_zone="UTC")["id"]
    answers: list[tuple[int, str]] = []

    def post() -> None:
        answer = pay(client, admin, customer, "7.00", reference="same")
        answers.append((answer.status_code, answer.json().get("id", answer.text)))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(status for status, _ in answers) == [200, 200, 200, 201], answers
    assert len({made for _, made in answers}) == 1
    assert balance_when(client, admin, customer, payments="7.00")["balance"] == "7.00"


# -- the balance ------------------------------------------------------------------------
def test_a_balance_is_payments_less_charges_and_a_charge_delivered_twice_counts_once(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    setup = prepaid_caller(client, admin)
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    assert pay(client, admin, customer, "1.00").status_code == 201
    shown = balance(client, admin, customer)
    assert (shown["mode"], shown["credit_limit"], shown["available"]) == ("prepaid", "0", "1.00")
    assert usage(client, admin, account, "4420", 60, record_id="r1").status_code in (200, 201, 202)
    assert usage(client, admin, account, "4420", 60, record_id="r1").status_code == 200
    shown = balance_when(client, admin, customer, charges="0.60")
    assert (shown["balance"], shown["available"], shown["no_funds"]) == ("0.40", "0.40", False)
    with runtime.db.transaction() as tx:  # the rater restarted from the start of the log
        tx.execute("UPDATE billing_rater_state SET position = 0")
    runtime.rater().catch_up()
    usage(client, admin, account, "4420", 60, record_id="r2")
    shown = balance_when(client, admin, customer, charges="1.20")
    assert (shown["xdrs"], shown["balance"], shown["no_funds"]) == (2, "-0.20", True)


def test_a_postpaid_customer_is_out_of_funds_past_its_credit_limit(
    client: TestClient, admin: Headers
) -> None:
    made = tariff(client, admin, [rate("44", "0.60")])
    setup = billed_account(client, admin, made["id"])
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    usage(client, admin, account, "4420", 120)
    shown = balance_when(client, admin, customer, charges="1.20")
    assert (shown["mode"], shown["available"], shown["no_funds"]) == ("postpaid", None, False)
    assert terms(client, admin, customer, credit_limit="1.00").status_code == 200
    shown = balance(client, admin, customer)
    assert (shown["balance"], shown["available"], shown["no_funds"]) == ("-1.20", "-0.20", True)


def test_a_reprocess_that_lowers_a_charge_gives_the_funds_back(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    setup = prepaid_caller(client, admin)
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    assert pay(client, admin, customer, "0.50").status_code == 201
    usage(client, admin, account, "4420", 60, at="2026-10-05T10:00:00+00:00")  # 0.60
    shown = balance_when(client, admin, customer, charges="0.60")
    assert (shown["available"], shown["no_funds"]) == ("-0.10", True)
    watcher(runtime).catch_up()
    assert close(client, admin, customer, "2026-10").status_code == 201
    fixed = client.post(
        f"/v1/tariffs/{setup['tariff_id']}/rates",
        json={"rates": [rate("44", "0.30")], "reason": "44 was overpriced"},
        headers=admin,
    )
    assert fixed.status_code in (200, 201), fixed.text
    job = client.post(
        "/v1/billing/reprocess",
        json={"period": "2026-10", "customer_id": customer, "reason": "rate 44"},
        headers=admin,
    )
    assert wait_job(client, admin, job.json()["id"])["status"] == "completed"
    shown = balance_when(client, admin, customer, charges="0.30")
    assert (shown["xdrs"], shown["available"], shown["no_funds"]) == (1, "0.20", False)
    watcher(runtime).catch_up()
    ended = eventually(
        lambda: [o for o in outages(runtime, customer, account) if o["end_at"]] or None,
        timeout=10,
    )
    assert len(ended) == 1


# -- no funds: the watcher, credits, calls ----------------------------------------------
def test_the_watcher_records_running_out_of_funds_and_ends_it_on_a_top_up(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    headers = admin_at(client, clock, "2026-11-10T10:00:00+00:00")
    setup = prepaid_caller(client, headers)
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    usage(client, headers, account, "4420", 60, at="2026-11-10T09:00:00+00:00")
    balance_when(client, headers, customer, no_funds=True)
    watcher(runtime).catch_up()
    (out,) = eventually(lambda: outages(runtime, customer, account) or None, timeout=10)
    assert out["start"].startswith("2026-11-10T10:00:00") and out["end_at"] is None
    headers = admin_at(client, clock, "2026-11-15T09:00:00+00:00")
    assert pay(client, headers, customer, "5.00").status_code == 201
    watcher(runtime).catch_up()
    ended = eventually(
        lambda: [o for o in outages(runtime, customer, account) if o["end_at"]] or None,
        timeout=10,
    )
    assert ended[0]["end_at"].startswith("2026-11-15T09:00:00")
    events = client.get(
        "/v1/audit", params={"type": "billing.ServiceOutage.Recorded"}, headers=headers
    ).json()["items"]
    assert [e["actor"]["id"] for e in events] == [FUNDS.id]


def test_a_crashed_or_doubled_watcher_records_the_outage_once(runtime: Runtime) -> None:
    """No API here: no watcher runs in the background, the test plays each one."""
    billing = service(runtime)
    customer = runtime.directory.create_customer(OPS, "Prepaid", "EUR", "UTC", None, None, None)
    billing.set_payment_terms(OPS, customer, "prepaid")
    billing.receive_payment(OPS, customer, "5.00", "given back", None, "refund")  # -5.00

    def started() -> FundsWatcher:
        made = FundsWatcher(service(runtime), runtime.db, clock=runtime.clock)
        made.setup()
        return made

    _, batch = started().read()  # read, then crashed before deciding or appending
    assert batch
    second = started()
    start, batch = second.read()
    decisions = second.decide(batch)
    assert [d.ends for d in decisions] == [False]
    assert second.act(decisions) == 1  # appended, then crashed before its position moved
    third = started()
    assert third.catch_up() > 0  # decides the same again: a conflict, left as it is
    assert third.act(decisions) == 0
    assert second.advance(start, batch[-1].id) is False  # the third moved it first
    assert started().read()[1] == []
    runtime.runner.catch_up()  # no API: the read models are caught up by hand
    assert len(outages(runtime, str(customer), str(uuid4()))) == 1
    expected = no_funds_outage_id(decisions[0].customer_id, decisions[0].started_at)
    assert SubscriptionQueries(runtime.db).outage(str(expected)) is not None


def test_days_without_funds_between_running_out_and_a_top_up_are_credited(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    credited = _no_funds_month(client, admin, runtime, clock, conditions=None)
    assert credited == ["2026-11-11", "2026-11-12", "2026-11-13", "2026-11-14"]


def test_panda_telecom_charges_days_without_funds_when_its_plan_does_not_credit_them(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    credited = _no_funds_month(
        client, admin, runtime, clock, conditions=["expired", "blocked", "suspended"]
    )
    assert credited == []


def _no_funds_month(
    client: TestClient,
    admin: Headers,
    runtime: Runtime,
    clock: FileClock,
    conditions: list[str] | None,
) -> list[str]:
    """A prepaid customer tops up 40.00 and subscribes to a 30.00 plan on 1 November, runs
    out of funds on 10 November (a 12.00 call), tops up again on 15 November: the credit
    days the charger then makes."""
    headers = admin_at(client, clock, "2026-11-01T00:00:00+00:00")
    setup = prepaid_caller(client, headers)
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    more = {"credit_conditions": conditions} if conditions is not None else {}
    made = plan(client, headers, setup["product"]["id"], fee="30.00", **more)
    assert pay(client, headers, customer, "40.00", reference="nov-1").status_code == 201
    assert (
        subscribe(client, headers, account, made["id"], "2026-11-01T00:00:00+00:00").status_code
        == 201
    )
    assert charge(runtime, clock, "2026-11-01T00:00:00+00:00") == 1
    balance_when(client, headers, customer, available="10.00")
    headers = admin_at(client, clock, "2026-11-10T10:00:00+00:00")
    usage(client, headers, account, "4420", 1200, at="2026-11-10T09:00:00+00:00")  # 12.00
    balance_when(client, headers, customer, available="-2.00")
    watcher(runtime).catch_up()
    headers = admin_at(client, clock, "2026-11-15T09:00:00+00:00")
    assert pay(client, headers, customer, "20.00", reference="nov-15").status_code == 201
    watcher(runtime).catch_up()
    eventually(lambda: [o for o in outages(runtime, customer, account) if o["end_at"]] or None)
    charge(runtime, clock, "2026-11-20T00:00:00+00:00")
    settled(runtime)
    xdrs = fee_xdrs(client, headers, account, 1)
    assert xdrs[0]["amount"] == "30.00"
    credits = [x for x in xdrs if x["service"] == "credit"]
    assert {x["amount"] for x in credits} <= {"-1.00"}
    return [x["connect_time"][:10] for x in credits]


def test_a_customer_out_of_funds_may_not_originate_a_call_until_it_tops_up(
    client: TestClient, admin: Headers
) -> None:
    setup = prepaid_caller(client, admin)
    customer, login_name = setup["customer"]["id"], setup["account"]["login"]
    params = {"caller_id": login_name, "callee_id": "4420700900"}
    refused = client.post("/v1/call-control/originate_advanced_call", json=params, headers=admin)
    assert refused.status_code == 200, refused.text  # 0 available: not below zero
    usage(client, admin, setup["account"]["id"], "4420", 60)
    balance_when(client, admin, customer, no_funds=True)
    refused = client.post("/v1/call-control/originate_advanced_call", json=params, headers=admin)
    assert_problem(refused, 409, "no_funds")
    assert pay(client, admin, customer, "1.00").status_code == 201
    allowed = client.post("/v1/call-control/originate_advanced_call", json=params, headers=admin)
    assert allowed.status_code == 200, allowed.text


# -- the store -> Kafka round trip ------------------------------------------------------
def emit_every_balance_event(rt: Runtime, ctx: Any, customer: Any) -> None:
    """One use case of each funds kind (PaymentTerms.Agreed/.Revised, Payment.Received)."""
    billing = service(rt)
    billing.set_payment_terms(ctx, customer, "prepaid")
    billing.set_payment_terms(ctx, customer, "postpaid", "100.00")
    billing.receive_payment(ctx, customer, "12.34", "round-trip", "a note")
    billing.record_no_funds(customer, None, 10**9, datetime(2026, 11, 1, tzinfo=UTC))
    billing.end_no_funds(customer, 10**9, datetime(2026, 11, 2, tzinfo=UTC))


def test_the_cli_records_a_payment_once_and_runs_the_watcher_once(
    runtime: Runtime, settings: Any
) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    customer = runtime.directory.create_customer(OPS, "Prepaid", "EUR", "UTC", None, None, None)
    service(runtime).set_payment_terms(OPS, customer, "prepaid")
    env = {
        "SWITCHLOG_STORE_URL": settings.store_url,
        "SWITCHLOG_VAR_DIR": str(settings.var_dir),
        "SWITCHLOG_JWT_SECRET": settings.jwt_secret.get_secret_value(),
    }
    run = [
        "billing",
        "payment",
        "--customer",
        str(customer),
        "--amount",
        "5.00",
        "--reference",
        "cli-1",
        "--refund",
    ]
    first = CliRunner().invoke(app, run, env=env)
    assert first.exit_code == 0 and "recorded" in first.output, first.output
    again = CliRunner().invoke(app, run, env=env)
    assert again.exit_code == 0 and "received before" in again.output, again.output
    bad = CliRunner().invoke(app, [*run[:5], "abc", *run[6:]], env=env)
    assert bad.exit_code == 2 and "decimal string" in bad.output, bad.output
    watched = CliRunner().invoke(app, ["billing", "funds", "--once"], env=env)
    assert watched.exit_code == 0 and "funds watched up to" in watched.output, watched.output
    runtime.runner.catch_up()
    assert len(outages(runtime, str(customer), str(uuid4()))) == 1
