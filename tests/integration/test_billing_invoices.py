"""Billing periods, invoices, replay and reprocess through the API and the CLI, on SQLite
and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from composition.billing import invoicer, service
from composition.runtime import Runtime
from domain.billing.invoices import BillingPeriod, Invoice, invoice_id, period_key
from domain.shared.actor import Actor, CommandContext
from domain.shared.permissions import Access, Section
from tests.conftest import eventually
from tests.integration.billing_helpers import Headers, billed_account, rate, tariff, usage
from tests.integration.helpers import assert_problem, create


def close(client: TestClient, admin: Headers, customer: str, period: str) -> Any:
    return client.post(
        "/v1/billing/periods/close",
        json={"customer_id": customer, "period": period},
        headers=admin,
    )


def invoices(client: TestClient, admin: Headers, **query: Any) -> list[dict[str, Any]]:
    answer = client.get("/v1/invoices", params=query, headers=admin)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]  # type: ignore[no-any-return]


def billed(client: TestClient, admin: Headers, **more: Any) -> dict[str, Any]:
    made = tariff(client, admin, [rate("44", "0.60", 30, 6), rate("33", "1.00")])
    setup = billed_account(client, admin, made["id"], **more)
    setup["tariff"] = made
    return setup


def test_closing_a_period_issues_its_invoice_with_lines_taxes_and_totals(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    klass = create(client, admin, "customer-classes", name="Cents", invoice_precision=1)
    setup = billed(client, admin, class_id=klass["id"])
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    usage(client, admin, account, "4420", 95, at="2026-10-05T10:00:00+00:00")  # 0.96
    usage(client, admin, account, "3312", 61, at="2026-10-31T23:30:00+00:00")  # 2.00
    usage(client, admin, account, "3312", 60, at="2026-11-01T00:00:00+00:00")  # next month
    usage(client, admin, account, "99", 60, at="2026-10-06T10:00:00+00:00")  # unrated
    invoicer(runtime).tax_percent = Decimal("20")
    answer = close(client, admin, customer, "2026-10")
    assert answer.status_code == 201, answer.text
    invoice = answer.json()
    assert invoice["period"] == "2026-10"
    assert invoice["version"] == 1 and invoice["status"] == "issued"
    assert invoice["lines"] == [
        {
            "service": "voice",
            "direction": "outgoing",
            "xdrs": 2,
            "charged_seconds": 96 + 120,
            "quantity": "0",
            "amount": "2.96",
        }
    ]
    totals = invoice["totals"]
    # rounded once at the class's invoice precision (1), away from zero
    assert (totals["subtotal"], totals["tax"], totals["total"]) == ("3.0", "0.6", "3.6")
    assert totals["unrated"] == 1 and totals["xdrs"] == 3
    doc = {"lines": invoice["lines"], "totals": totals}
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    assert invoice["content_hash"] == hashlib.sha256(canonical).hexdigest()
    assert invoice["position"] > 0
    (listed,) = invoices(client, admin, customer_id=customer)
    assert {k: listed[k] for k in ("id", "period", "total", "status", "version")} == {
        "id": invoice["id"],
        "period": "2026-10",
        "total": "3.6",
        "status": "issued",
        "version": 1,
    }
    assert listed["content_hash"] == invoice["content_hash"]
    page = client.get(f"/v1/invoices/{invoice['id']}/html", headers=admin)
    assert page.status_code == 200 and "Total 3.6 EUR" in page.text
    assert page.headers["content-type"].startswith("text/html")


def test_a_closed_period_refuses_usage_and_closing_again_gives_the_same_invoice(
    client: TestClient, admin: Headers
) -> None:
    setup = billed(client, admin)
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    usage(client, admin, account, "4420", 60, at="2026-10-05T10:00:00+00:00")
    first = close(client, admin, customer, "2026-10").json()
    again = close(client, admin, customer, "2026-10")
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    refused = usage(client, admin, account, "4420", 60, at="2026-10-20T10:00:00+02:00")
    assert_problem(refused, 409, "period_closed")
    later = usage(client, admin, account, "4420", 60, at="2026-11-02T10:00:00+00:00")
    assert later.status_code == 201, later.text
    assert len(invoices(client, admin, customer_id=customer)) == 1


def test_periods_are_in_the_customers_zone_across_dst(client: TestClient, admin: Headers) -> None:
    made = tariff(client, admin, [rate("44", "0.60", 30, 6)])
    daily, weekly = (
        billed_account(
            client, admin, made["id"], name=kind, time_zone="Europe/Paris", billing_period=kind
        )
        for kind in ("daily", "weekly")
    )
    for setup in (daily, weekly):
        account = setup["account"]["id"]
        # 2026-10-25 is 25 hours long in Paris (CEST -> CET): both calls are on that day
        usage(client, admin, account, "4420", 60, at="2026-10-24T22:30:00+00:00")  # 00:30 CEST
        usage(client, admin, account, "4420", 60, at="2026-10-25T22:30:00+00:00")  # 23:30 CET
        usage(client, admin, account, "4420", 60, at="2026-10-25T23:30:00+00:00")  # next day
    invoice = close(client, admin, daily["customer"]["id"], "2026-10-25").json()
    assert invoice["totals"]["xdrs"] == 2
    assert invoice["start"].startswith("2026-10-24T22:00:00")
    assert invoice["end"].startswith("2026-10-25T23:00:00")
    week = close(client, admin, weekly["customer"]["id"], "2026-W43").json()  # Mon 19 .. 25
    assert week["totals"]["xdrs"] == 2


def test_a_crash_mid_close_restarted_issues_one_invoice(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    setup = billed(client, admin)
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    usage(client, admin, account, "4420", 60, at="2026-10-05T10:00:00+00:00")
    billing = service(runtime)
    original = billing.save
    calls = {"n": 0}

    def crash(*objs: Any, **kwargs: Any) -> Any:
        if any(isinstance(o, Invoice) for o in objs) and calls["n"] == 0:
            calls["n"] += 1
            raise ConnectionError("the database went away mid-close")
        return original(*objs, **kwargs)

    from uuid import UUID

    import pytest

    cid = UUID(customer)
    ctx = CommandContext(Actor.system("closer-1"))
    billing.save = crash  # type: ignore[method-assign]
    try:
        with pytest.raises(ConnectionError):
            invoicer(runtime).close(ctx, cid, "2026-10")
    finally:
        billing.save = original  # type: ignore[method-assign]
    assert billing.closed_invoice(cid, "2026-10") is None  # not half: nothing appended
    made = close(client, admin, customer, "2026-10")
    assert made.status_code == 201
    # two closers at once after the restart: the second finds the first's
    ctx = CommandContext(Actor.system("closer-2"))
    assert invoicer(runtime).close(ctx, cid, "2026-10") == invoice_id(cid, "2026-10", 1)
    assert len(invoices(client, admin, customer_id=customer)) == 1
    assert billing.load(period_key(cid, "2026-10"), BillingPeriod).invoice_id == invoice_id(
        cid, "2026-10", 1
    )


def test_closing_needs_billing_modify(client: TestClient, admin: Headers, runtime: Runtime) -> None:
    from uuid import UUID

    import pytest

    from domain.shared.errors import PermissionDeniedError

    setup = billed(client, admin)
    ctx = CommandContext(Actor.system("someone"), permissions={Section.BILLING: Access.READ})
    with pytest.raises(PermissionDeniedError):
        invoicer(runtime).close(ctx, UUID(setup["customer"]["id"]), "2026-10")


def replay_hash(runtime: Runtime, customer: str, period: str, **more: Any) -> str:
    from uuid import UUID

    return invoicer(runtime).replay(UUID(customer), period, **more).content_hash


def test_replay_gives_the_issued_hash_from_the_log_alone(
    client: TestClient, admin: Headers, runtime: Runtime, tmp_path: Path
) -> None:
    setup = billed(client, admin)
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    usage(client, admin, account, "4420", 95, at="2026-10-05T10:00:00+00:00")
    usage(client, admin, account, "3312", 61, at="2026-10-07T10:00:00+00:00")
    invoice = close(client, admin, customer, "2026-10").json()
    # corrupt the read models replay must never read
    with runtime.db.transaction() as tx:
        tx.execute("UPDATE billing_xdrs SET amount = '999.00'")
        tx.execute("UPDATE billing_invoices SET content_hash = 'x', totals = '{}'")
    replayed = invoicer(runtime).replay(
        __import__("uuid").UUID(customer), "2026-10", scratch=tmp_path / "scratch"
    )
    assert replayed.content_hash == invoice["content_hash"]
    assert (tmp_path / "scratch" / "invoice.json").exists()
    assert len((tmp_path / "scratch" / "xdrs.jsonl").read_text().splitlines()) == 2


def test_replay_cli_prints_the_same_hash_on_every_store(
    client: TestClient, admin: Headers, runtime: Runtime, settings: Any, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    setup = billed(client, admin)
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    usage(client, admin, account, "4420", 95, at="2026-10-05T10:00:00+00:00")
    usage(client, admin, account, "3312", 61, at="2026-10-07T10:00:00+00:00")
    usage(client, admin, account, "3312", 61, at="2026-09-07T10:00:00+00:00")  # back-dated
    usage(client, admin, account, "4420", 30, at="2026-09-30T23:59:00+00:00")
    invoice = close(client, admin, customer, "2026-09").json()
    env = {
        "SWITCHLOG_STORE_URL": settings.store_url,
        "SWITCHLOG_VAR_DIR": str(settings.var_dir),
        "SWITCHLOG_JWT_SECRET": settings.jwt_secret.get_secret_value(),
    }
    result = CliRunner().invoke(
        app,
        [
            "billing",
            "replay",
            "--customer",
            customer,
            "--period",
            "2026-09",
            "--scratch",
            str(tmp_path / "replay"),
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    line = [x for x in result.output.splitlines() if x.startswith("content_hash: ")]
    assert line == [f"content_hash: {invoice['content_hash']}"]
    # the same usage gives the same bytes, hence the same hash, on SQLite and PostgreSQL
    assert invoice["content_hash"] == SEPTEMBER_HASH, invoice


SEPTEMBER_HASH = "2c3af7fe5922ae1be195416b32aeedee6c0ac3522f1f7da76e0fd30292897fa9"


def wait_job(client: TestClient, admin: Headers, job: str) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        shown = client.get(f"/v1/billing/reprocess/{job}", headers=admin)
        if shown.status_code == 200 and shown.json()["status"] != "running":
            return shown.json()  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"job {job} still running")


def test_reprocess_after_a_rate_fix_voids_issues_and_explains(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    setup = billed(client, admin)
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    tariff_id = setup["tariff"]["id"]
    usage(client, admin, account, "4420", 95, at="2026-10-05T10:00:00+00:00")  # 0.96
    usage(client, admin, account, "3312", 60, at="2026-10-07T10:00:00+00:00")  # 1.00
    old = close(client, admin, customer, "2026-10").json()
    assert old["total"] == "1.96"
    fixed = client.post(
        f"/v1/tariffs/{tariff_id}/rates",
        json={"rates": [rate("33", "0.80")], "reason": "33 was overpriced"},
        headers=admin,
    )
    assert fixed.status_code in (200, 201), fixed.text
    answer = client.post(
        "/v1/billing/reprocess",
        json={"period": "2026-10", "customer_id": customer, "reason": "ticket 42: rate 33"},
        headers=admin,
    )
    assert answer.status_code == 202, answer.text
    job = wait_job(client, admin, answer.json()["id"])
    assert job["status"] == "completed", job
    (entry,) = job["invoices"]
    assert (entry["old_invoice_id"], entry["old_total"], entry["new_total"]) == (
        old["id"],
        "1.96",
        "1.76",
    )
    (change,) = entry["changes"]
    assert (change["old_amount"], change["new_amount"]) == ("1.00", "0.80")
    assert change["cause"] == "rate 33 changed: price_per_minute 1.00 -> 0.80"
    new = client.get(f"/v1/invoices/{entry['new_invoice_id']}", headers=admin).json()
    assert (new["version"], new["status"], new["replaces"]) == (2, "issued", old["id"])
    assert new["reason"] == "ticket 42: rate 33"
    still = client.get(f"/v1/invoices/{old['id']}", headers=admin).json()  # old stays readable
    assert (still["status"], still["total"], still["replaced_by"]) == ("void", "1.96", new["id"])
    listed = invoices(client, admin, customer_id=customer)
    assert [(i["version"], i["status"]) for i in listed] == [(1, "void"), (2, "issued")]
    amounts = client.get("/v1/xdrs", params={"customer_id": customer}, headers=admin).json()
    assert [x["amount"] for x in amounts["items"]] == ["0.96", "0.80"]
    # replaying version 1 still gives version 1's hash; version 2 its own
    assert replay_hash(runtime, customer, "2026-10", version=1) == old["content_hash"]
    assert replay_hash(runtime, customer, "2026-10") == new["content_hash"]
    # nothing changed since: a second reprocess reissues nothing
    again = client.post(
        "/v1/billing/reprocess", json={"period": "2026-10", "reason": "again"}, headers=admin
    )
    assert wait_job(client, admin, again.json()["id"])["invoices"] == []


def test_reprocess_while_calls_are_rated_loses_and_doubles_no_xdr(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    import threading
    from uuid import UUID

    from domain.billing.application import Usage
    from domain.shared.actor import Actor

    setup = billed(client, admin)
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    for i in range(20):
        usage(client, admin, account, "3312", 60, at=f"2026-10-{i + 1:02d}T10:00:00+00:00")
    close(client, admin, customer, "2026-10")
    client.post(
        f"/v1/tariffs/{setup['tariff']['id']}/rates",
        json={"rates": [rate("33", "0.50")], "reason": "cheaper"},
        headers=admin,
    )
    billing = service(runtime)
    ctx = CommandContext(Actor.system("test"))
    stop = threading.Event()
    made: list[int] = []

    def more_calls() -> None:  # November's calls, rated meanwhile by the in-process rater
        from datetime import UTC, datetime

        while not stop.is_set() and len(made) < 60:
            n = len(made)
            at = datetime(2026, 11, 1 + n % 28, 10, n, tzinfo=UTC)
            billing.record_usage(ctx, Usage(UUID(account), "voice", "1", "3312", at, 60, f"n{n}"))
            made.append(n)

    worker = threading.Thread(target=more_calls)
    worker.start()
    job = billing.request_reprocess(ctx, "2026-10", UUID(customer), "cheaper 33")
    (entry,) = invoicer(runtime).reprocess(ctx, job)
    stop.set()
    worker.join()
    assert entry["xdrs_changed"] == 20 and entry["new_total"] == "10.00"

    def xdr_counts() -> Any:
        runtime.rater().catch_up()
        runtime.runner.catch_up()
        with runtime.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(
                "SELECT leg_id, COUNT(*) AS n FROM billing_xdrs WHERE customer_id = %s"
                " AND level = 'customer' GROUP BY leg_id",
                (customer,),
            )
        return rows if len(rows) >= 20 + len(made) else None

    rows = eventually(xdr_counts)
    assert all(r["n"] == 1 for r in rows)  # none doubled
    assert len(rows) == 20 + len(made)  # none lost


def test_a_charge_delivered_twice_bills_once(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    setup = billed(client, admin)
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    usage(client, admin, account, "4420", 60, at="2026-10-05T10:00:00+00:00", record_id="r1")
    usage(client, admin, account, "4420", 60, at="2026-10-05T10:00:00+00:00", record_id="r1")
    rater = runtime.rater()
    with runtime.db.transaction() as tx:  # the rater restarted from the start: every leg again
        tx.execute("UPDATE billing_rater_state SET position = 0")
    rater.catch_up()
    invoice = close(client, admin, customer, "2026-10").json()
    assert invoice["totals"]["xdrs"] == 1 and invoice["total"] == "0.60"
    balance = client.get(f"/v1/customers/{customer}/balance", headers=admin)
    assert balance.status_code == 200, balance.text
    assert (balance.json()["charges"], balance.json()["xdrs"]) == ("0.60", 1)


def test_periods_close_by_themselves_after_the_grace(
    client: TestClient, admin: Headers, runtime: Runtime, clock: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    setup = billed(client, admin)
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    usage(client, admin, account, "4420", 60, at="2026-10-05T10:00:00+00:00")
    closer = invoicer(runtime)
    clock.set(datetime(2026, 11, 1, 0, 59, tzinfo=UTC))  # within the hour's grace
    assert closer.close_due() == []
    clock.set(datetime(2026, 11, 1, 1, 0, tzinfo=UTC) + timedelta(seconds=1))
    (made,) = closer.close_due()
    assert closer.close_due() == [made]  # closing again finds the same invoice
    listed = eventually(lambda: invoices(client, admin, customer_id=customer))  # read model
    assert [i["id"] for i in listed] == [str(made)]


def emit_every_invoice_event(
    rt: Runtime, ctx: CommandContext, customer: Any, account: Any, reseller: Any = None
) -> None:
    """Each event type of billing part 2 (after emit_every_billing_event's usage of
    2026-10-05): a close, a reprocess reissuing with one corrected xDR, a failed job; a
    reseller's close and reissue; a customer's period kind chosen and changed."""
    from domain.billing import invoices as inv
    from domain.billing.rounding import Rounding
    from domain.billing.xdrs import RERATED_FIELDS, Leg, xdr_id
    from domain.calls.legs import usage_leg_id

    billing = service(rt)
    first = invoicer(rt).close(ctx, customer, "2026-10")
    job = billing.request_reprocess(ctx, "2026-10", customer, "round trip")
    xdr = billing.load(xdr_id(usage_leg_id(account, "round-trip"), "customer"), Leg)
    fields = {name: getattr(xdr, name) for name in RERATED_FIELDS}
    fields.update(status="rated", amount=Decimal("0.10"), currency="EUR")
    content = inv.compute([], Rounding.AWAY_FROM_ZERO, 2, Decimal(0), "EUR")
    diff = {"leg_id": str(xdr.leg_id), "old_amount": None, "new_amount": "0.10", "cause": "rt"}
    new = billing.reissue(ctx, first, content, 1, [(xdr.id, fields, diff)], "round trip", job)
    billing.complete_reprocess(ctx, job, [{"new_invoice_id": str(new)}])
    billing.fail_reprocess(ctx, billing.request_reprocess(ctx, "2026-10", None, "rt"), "rt")
    if reseller is not None:
        theirs = invoicer(rt).close_reseller(ctx, reseller, "2026-10")
        billing.reissue(ctx, theirs, content, 1, [], "round trip", job, reseller_level=True)
    billing.set_customer_billing_period(ctx, customer, "weekly")
    billing.set_customer_billing_period(ctx, customer, "daily")


def test_a_period_closes_only_when_none_of_its_calls_is_up(
    client: TestClient, admin: Headers, clock: Any
) -> None:
    from tests.integration.calls_helpers import live, ok, pbx, script, until
    from tests.integration.test_billing_subscriptions_rules import admin_at

    office = pbx(client, admin)
    john = office["john"]["account_login"]
    script(client, admin, john, answer_after_ms=0)  # the clock stands still: answer at once
    script(client, admin, "15551230000", answer_after_ms=0)
    admin = admin_at(client, clock, "2026-10-31T23:59:00+00:00")
    call = ok(client, admin, "originate_advanced_call", caller_id=john, callee_id="15551230000")
    live(client, admin, call["call_id"], "connected", "connected")
    admin = admin_at(client, clock, "2026-11-01T02:00:00+00:00")  # still up after midnight
    customer = office["customer"]["id"]
    up = close(client, admin, customer, "2026-10")
    assert up.status_code == 409, up.text
    assert "still up" in up.json()["detail"]
    ok(client, admin, "disconnect_call", call_id=call["call_id"])
    until(client, admin, call["call_id"], "terminated")
    eventually(lambda: close(client, admin, customer, "2026-10").status_code == 201 or None)


def test_a_period_cannot_close_before_its_end(
    client: TestClient, admin: Headers, clock: Any
) -> None:
    from tests.integration.test_billing_subscriptions_rules import admin_at

    setup = billed(client, admin, time_zone="Europe/Vilnius")
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    usage(client, admin, account, "4420", 60, at="2026-10-05T10:00:00+00:00")
    # October in Vilnius ends at 2026-10-31T22:00Z (EET, UTC+2)
    early = close(client, admin_at(client, clock, "2026-10-31T21:59:00+00:00"), customer, "2026-10")
    assert_problem(early, 409, "period_not_over")
    assert "2026-10-31T22:00:00+00:00" in early.json()["detail"]
    headers = admin_at(client, clock, "2026-10-31T22:00:00+00:00")
    assert invoices(client, headers, customer_id=customer) == []
    assert close(client, headers, customer, "2026-10").status_code == 201


def test_reprocess_after_a_rounding_fix_names_the_rule(client: TestClient, admin: Headers) -> None:
    setup = billed(client, admin)
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    usage(client, admin, account, "4420", 95, at="2026-10-05T10:00:00+00:00")  # 0.96
    old = close(client, admin, customer, "2026-10").json()
    klass = create(client, admin, "customer-classes", name="Sen", rounding="malaysian")
    patched = client.patch(
        f"/v1/customers/{customer}", json={"customer_class_id": klass["id"]}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    answer = client.post(
        "/v1/billing/reprocess",
        json={"period": "2026-10", "reason": "customer is Malaysian"},
        headers=admin,
    )
    job = wait_job(client, admin, answer.json()["id"])
    (entry,) = job["invoices"]
    assert (entry["old_total"], entry["new_total"]) == (old["total"], "0.95")
    (change,) = entry["changes"]
    assert change["cause"] == (
        "customer class changed: the default class -> Sen (away_from_zero/2 -> malaysian/2)"
    )


def test_customers_see_their_own_invoices_and_a_restricting_role_none(
    client: TestClient, admin: Headers
) -> None:
    from tests.integration.conftest import login

    setup = billed(client, admin)
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    usage(client, admin, account, "4420", 60, at="2026-10-05T10:00:00+00:00")
    invoice = close(client, admin, customer, "2026-10").json()
    other = create(
        client,
        admin,
        "customers",
        name="Other",
        currency="EUR",
        time_zone="UTC",
        login="other",
        password="other-password",
    )
    theirs = login(client, "other", "other-password")
    assert invoices(client, theirs) == []
    hidden = client.get(f"/v1/invoices/{invoice['id']}", headers=theirs)
    assert_problem(hidden, 404, "not_found")
    role = create(client, admin, "roles", name="No billing", permissions={"billing": "restrict"})
    client.put(f"/v1/customers/{other['id']}/role", json={"role_id": role["id"]}, headers=admin)
    refused = client.get("/v1/invoices", headers=login(client, "other", "other-password"))
    assert_problem(refused, 403, "permission_denied")
    closing = close(client, login(client, "other", "other-password"), other["id"], "2026-10")
    assert_problem(closing, 403, "permission_denied")


def test_subscription_fees_are_invoiced_and_kept_by_a_reprocess(
    client: TestClient, admin: Headers, runtime: Runtime, clock: Any
) -> None:
    from datetime import UTC, datetime

    from tests.integration.test_billing_subscriptions import charge, fee_xdrs, plan, subscribe
    from tests.integration.test_billing_subscriptions_rules import admin_at

    setup = billed(client, admin)
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    made = plan(client, admin, setup["product"]["id"])
    clock.set(datetime(2026, 10, 11, 9, tzinfo=UTC))
    subscribed = subscribe(client, admin, account, made["id"], "2026-10-11T09:00:00+00:00")
    assert subscribed.status_code == 201, subscribed.text
    assert charge(runtime, clock, "2026-10-11T09:00:00+00:00") == 1
    fee_xdrs(client, admin, account, 1)  # 21.00: 21 of October's 31 days
    usage(client, admin, account, "3312", 60, at="2026-10-12T10:00:00+00:00")  # 1.00
    admin = admin_at(client, clock, "2026-11-01T01:00:00+00:00")
    invoice = close(client, admin, customer, "2026-10").json()
    services = {line["service"]: line["amount"] for line in invoice["lines"]}
    assert services == {"subscription": "21.00", "voice": "1.00"}
    assert invoice["total"] == "22.00"
    client.post(
        f"/v1/tariffs/{setup['tariff']['id']}/rates",
        json={"rates": [rate("33", "0.50")], "reason": "cheaper"},
        headers=admin,
    )
    job = client.post(
        "/v1/billing/reprocess", json={"period": "2026-10", "reason": "rate 33"}, headers=admin
    )
    (entry,) = wait_job(client, admin, job.json()["id"])["invoices"]
    assert (entry["old_total"], entry["new_total"], entry["xdrs_changed"]) == ("22.00", "21.50", 1)
