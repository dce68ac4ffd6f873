"""The operator's invoices to its resellers (issue 12 item 4): per reseller per period, of
its reseller-level xDRs, through the API and the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from adapters.clock import FileClock
from composition.billing import invoicer, service
from composition.runtime import Runtime
from domain.billing.invoices import ResellerInvoice, reseller_invoice_id
from domain.shared.actor import Actor, CommandContext
from tests.conftest import eventually
from tests.integration.billing_helpers import Headers, billed_account, rate, tariff, usage
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create


def close(client: TestClient, headers: Headers, period: str, **ids: str) -> Any:
    return client.post("/v1/billing/periods/close", json={"period": period, **ids}, headers=headers)


def invoices(client: TestClient, headers: Headers, **query: Any) -> list[dict[str, Any]]:
    answer = client.get("/v1/invoices", params=query, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]  # type: ignore[no-any-return]


def reselling(
    client: TestClient, admin: Headers, *, period: str = "monthly", name: str = "Resell"
) -> dict[str, Any]:
    """A reseller (login `<name>`) billed in Vilnius at a wholesale tariff (precision 4), and
    one of its customers at a retail tariff."""
    retail = tariff(client, admin, [rate("44", "0.60")], name=f"{name} retail")
    wholesale = tariff(client, admin, [rate("44", "0.2011")], name=f"{name} wholesale", precision=4)
    reseller = create(
        client, admin, "resellers", name=name, login=name.lower(), password="reseller-password"
    )
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
        client, admin, retail["id"], name=f"{name} customer", reseller_id=reseller["id"]
    )
    return {**setup, "reseller": reseller, "wholesale": wholesale}


def test_a_resellers_period_is_invoiced_from_its_reseller_level_xdrs(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    from decimal import Decimal

    setup = reselling(client, admin)
    account, reseller = setup["account"]["id"], setup["reseller"]["id"]
    # Vilnius is UTC+3 until 25 October, then UTC+2: October there is 30 Sep 21:00 .. 31 Oct 22:00
    usage(client, admin, account, "4420", 60, at="2026-09-30T21:30:00+00:00")  # 1 Oct, 00:30
    usage(client, admin, account, "4420", 60, at="2026-10-15T10:00:00+00:00")
    usage(client, admin, account, "4420", 60, at="2026-10-31T21:30:00+00:00")  # 23:30 local
    usage(client, admin, account, "4420", 60, at="2026-10-31T22:30:00+00:00")  # 1 November
    invoicer(runtime).tax_percent = Decimal("20")
    answer = close(client, admin, "2026-10", reseller_id=reseller)
    assert answer.status_code == 201, answer.text
    invoice = answer.json()
    assert invoice["level"] == "reseller" and invoice["customer_id"] is None
    assert invoice["reseller_id"] == reseller
    assert invoice["id"] == str(reseller_invoice_id(UUID(reseller), "2026-10", 1))
    (line,) = invoice["lines"]
    assert (line["xdrs"], line["amount"]) == (3, "0.6033")  # the reseller's price, not 1.80
    totals = invoice["totals"]
    # rounded once, away from zero at 2: 0.6033 -> 0.61; tax 0.12066 -> 0.13
    assert (totals["subtotal"], totals["tax"], totals["total"]) == ("0.61", "0.13", "0.74")
    assert (totals["currency"], totals["rounding"], totals["invoice_precision"]) == (
        "EUR",
        "away_from_zero",
        2,
    )
    assert invoice["start"].startswith("2026-09-30T21:00:00")
    assert invoice["end"].startswith("2026-10-31T22:00:00")
    (listed,) = invoices(client, admin, level="reseller", reseller_id=reseller)
    assert {k: listed[k] for k in ("id", "level", "period", "total", "status", "version")} == {
        "id": invoice["id"],
        "level": "reseller",
        "period": "2026-10",
        "total": "0.74",
        "status": "issued",
        "version": 1,
    }
    assert invoices(client, admin, customer_id=setup["customer"]["id"]) == []  # not a customer's
    assert invoices(client, admin) == []  # customers' invoices by default
    page = client.get(f"/v1/invoices/{invoice['id']}/html", headers=admin)
    assert page.status_code == 200 and "Total 0.74 EUR" in page.text


def test_only_the_operator_and_that_reseller_see_its_invoice(
    client: TestClient, admin: Headers
) -> None:
    setup = reselling(client, admin)
    other = reselling(client, admin, name="Other")
    usage(client, admin, setup["account"]["id"], "4420", 60, at="2026-10-15T10:00:00+00:00")
    invoice = close(client, admin, "2026-10", reseller_id=setup["reseller"]["id"]).json()
    theirs = login(client, "resell", "reseller-password")
    assert [i["id"] for i in invoices(client, theirs, level="reseller")] == [invoice["id"]]
    shown = client.get(f"/v1/invoices/{invoice['id']}", headers=theirs)
    assert shown.status_code == 200 and shown.json()["total"] == invoice["total"]
    stranger = login(client, "other", "reseller-password")
    assert invoices(client, stranger, level="reseller") == []
    assert_problem(client.get(f"/v1/invoices/{invoice['id']}", headers=stranger), 404, "not_found")
    create(
        client,
        admin,
        "customers",
        name="Shuttle",
        currency="EUR",
        time_zone="UTC",
        reseller_id=setup["reseller"]["id"],
        login="shuttle",
        password="customer-password",
    )
    mine = login(client, "shuttle", "customer-password")  # its customers: never
    assert invoices(client, mine, level="reseller") == []
    assert_problem(client.get(f"/v1/invoices/{invoice['id']}", headers=mine), 404, "not_found")
    assert other["reseller"]["id"] != setup["reseller"]["id"]


def test_bad_close_requests_are_refused_and_record_nothing(
    client: TestClient, admin: Headers, log_size: Any
) -> None:
    setup = reselling(client, admin)
    reseller, customer = setup["reseller"]["id"], setup["customer"]["id"]
    usage(client, admin, setup["account"]["id"], "4420", 60, at="2026-10-15T10:00:00+00:00")
    theirs = login(client, "resell", "reseller-password")
    before = log_size()
    both = close(client, admin, "2026-10", reseller_id=reseller, customer_id=customer)
    assert_problem(both, 422, "invalid_value")
    assert_problem(close(client, admin, "2026-10"), 422, "invalid_value")
    unknown = close(client, admin, "2026-10", reseller_id="00000000-0000-4000-8000-000000000001")
    assert_problem(unknown, 404, "not_found")
    assert_problem(
        close(client, admin, "2026-W42", reseller_id=reseller), 422, "period_kind_mismatch"
    )
    assert_problem(close(client, admin, "2026-13", reseller_id=reseller), 422, "invalid_value")
    # the operator invoices its resellers: a reseller may not close its own period
    assert_problem(close(client, theirs, "2026-10", reseller_id=reseller), 403, "forbidden")
    assert log_size() == before
    assert invoices(client, admin, level="reseller") == []


def test_a_customer_cannot_close_its_resellers_period(
    client: TestClient, admin: Headers, log_size: Any
) -> None:
    reseller = create(client, admin, "resellers", name="Parent")
    customer = create(
        client,
        admin,
        "customers",
        name="Child",
        currency="EUR",
        time_zone="UTC",
        reseller_id=reseller["id"],
        login="child",
        password="child-password",
    )
    headers = login(client, "child", "child-password")
    before = log_size()
    refused = close(client, headers, "2026-10", reseller_id=reseller["id"])
    assert_problem(refused, 403, "forbidden")
    assert log_size() == before
    assert customer["reseller_id"] == reseller["id"]


def test_a_crash_mid_close_restarted_and_two_closers_at_once_issue_one_invoice(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    setup = reselling(client, admin)
    reseller = UUID(setup["reseller"]["id"])
    usage(client, admin, setup["account"]["id"], "4420", 60, at="2026-10-15T10:00:00+00:00")
    billing = service(runtime)
    original = billing.save

    def crash(*objs: Any, **kwargs: Any) -> Any:
        if any(isinstance(o, ResellerInvoice) for o in objs):
            raise ConnectionError("the database went away mid-close")
        return original(*objs, **kwargs)

    ctx = CommandContext(Actor.system("closer-1"))
    billing.save = crash  # type: ignore[method-assign]
    try:
        with pytest.raises(ConnectionError):
            invoicer(runtime).close_reseller(ctx, reseller, "2026-10")
    finally:
        billing.save = original  # type: ignore[method-assign]
    assert billing.closed_reseller_invoice(reseller, "2026-10") is None  # nothing, not half
    made: list[UUID] = []
    errors: list[BaseException] = []

    def closer(n: int) -> None:
        try:
            actor = CommandContext(Actor.system(f"closer-{n}"))
            made.append(invoicer(runtime).close_reseller(actor, reseller, "2026-10"))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=closer, args=(n,)) for n in (2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert made == [reseller_invoice_id(reseller, "2026-10", 1)] * 2
    listed = eventually(lambda: invoices(client, admin, level="reseller") or None)
    assert [i["id"] for i in listed] == [str(made[0])]
    again = close(client, admin, "2026-10", reseller_id=str(reseller))
    assert again.status_code == 200 and again.json()["id"] == str(made[0])


def test_replay_of_a_resellers_invoice_reads_the_log_alone(
    client: TestClient, admin: Headers, runtime: Runtime, settings: Any, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    setup = reselling(client, admin)
    reseller = setup["reseller"]["id"]
    usage(client, admin, setup["account"]["id"], "4420", 95, at="2026-10-05T10:00:00+00:00")
    usage(client, admin, setup["account"]["id"], "4420", 61, at="2026-09-05T10:00:00+00:00")
    invoice = close(client, admin, "2026-10", reseller_id=reseller).json()
    with runtime.db.transaction() as tx:  # corrupt the read models replay must never read
        tx.execute("UPDATE billing_xdrs SET amount = '999.00'")
        tx.execute("UPDATE billing_invoices SET content_hash = 'x', totals = '{}'")
    env = {
        "SWITCHLOG_STORE_URL": settings.store_url,
        "SWITCHLOG_VAR_DIR": str(settings.var_dir),
        "SWITCHLOG_JWT_SECRET": settings.jwt_secret.get_secret_value(),
    }
    args = ["billing", "replay", "--reseller", reseller, "--period", "2026-10"]
    result = CliRunner().invoke(app, [*args, "--scratch", str(tmp_path / "r")], env=env)
    assert result.exit_code == 0, result.output
    line = [x for x in result.output.splitlines() if x.startswith("content_hash: ")]
    assert line == [f"content_hash: {invoice['content_hash']}"]
    assert len((tmp_path / "r" / "xdrs.jsonl").read_text().splitlines()) == 1
    # both --customer and --reseller: refused
    both = CliRunner().invoke(app, [*args, "--customer", setup["customer"]["id"]], env=env)
    assert both.exit_code == 2
    # the same usage gives the same hash on SQLite and PostgreSQL
    assert invoice["content_hash"] == RESELLER_OCTOBER_HASH, invoice


RESELLER_OCTOBER_HASH = "0df7e5936a977e0652ddc05cc843ac1d0d630e3caec42ca45027145b7d638e64"


def wait_job(client: TestClient, admin: Headers, job: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        shown = client.get(f"/v1/billing/reprocess/{job}", headers=admin)
        if shown.status_code == 404:
            return None  # not in the read model yet
        assert shown.status_code == 200, shown.text
        return shown.json() if shown.json()["status"] != "running" else None  # type: ignore[no-any-return]

    found: dict[str, Any] = eventually(done, timeout=20)
    return found


def test_reprocess_reissues_a_resellers_invoice_after_its_tariff_is_fixed(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    setup = reselling(client, admin)
    reseller = setup["reseller"]["id"]
    usage(client, admin, setup["account"]["id"], "4420", 60, at="2026-10-05T10:00:00+00:00")
    old = close(client, admin, "2026-10", reseller_id=reseller).json()
    fixed = client.post(
        f"/v1/tariffs/{setup['wholesale']['id']}/rates",
        json={"rates": [rate("44", "0.1500")], "reason": "wholesale price agreed"},
        headers=admin,
    )
    assert fixed.status_code == 200, fixed.text
    answer = client.post(
        "/v1/billing/reprocess", json={"period": "2026-10", "reason": "ticket 7"}, headers=admin
    )
    assert answer.status_code == 202, answer.text
    job = wait_job(client, admin, answer.json()["id"])
    assert job["status"] == "completed", job["error"]
    (entry,) = job["invoices"]
    assert (entry["level"], entry["reseller_id"], entry["customer_id"]) == (
        "reseller",
        reseller,
        None,
    )
    assert (entry["old_total"], entry["new_total"], entry["xdrs_changed"]) == ("0.21", "0.15", 1)
    (change,) = entry["changes"]
    assert change["cause"] == "rate 44 changed: price_per_minute 0.2011 -> 0.1500"
    listed = eventually(
        lambda: (found := invoices(client, admin, level="reseller")) and len(found) == 2 and found
    )
    assert [(i["version"], i["status"]) for i in listed] == [(1, "void"), (2, "issued")]
    # version 1 still replays to its own hash; version 2 to the new one
    replayer = invoicer(runtime)
    first = replayer.replay(UUID(reseller), "2026-10", 1, level="reseller")
    assert first.content_hash == old["content_hash"]
    latest = replayer.replay(UUID(reseller), "2026-10", level="reseller")
    assert latest.content_hash == listed[1]["content_hash"] != old["content_hash"]


def test_the_closer_closes_a_resellers_weekly_period_after_the_grace(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = reselling(client, admin, period="weekly")
    reseller = UUID(setup["reseller"]["id"])
    # Monday 19 .. Sunday 25 October in Vilnius (the week DST ends): 18 Oct 21:00 .. 25 Oct 22:00
    usage(client, admin, setup["account"]["id"], "4420", 60, at="2026-10-25T21:30:00+00:00")
    closer = invoicer(runtime)
    week_end = datetime(2026, 10, 25, 22, tzinfo=UTC)
    clock.set(week_end + timedelta(minutes=59))  # within the hour's grace
    assert closer.close_due() == []
    clock.set(week_end + timedelta(hours=1, seconds=1))
    made = closer.close_due()
    assert made == [reseller_invoice_id(reseller, "2026-W43", 1)]
    assert closer.close_due() == made  # again: the same invoice
    listed = eventually(lambda: invoices(client, admin, level="reseller") or None)
    (invoice,) = listed
    assert invoice["period"] == "2026-W43" and invoice["total"] == "0.21"


def test_the_seed_resellers_monthly_fee_per_account_is_its_invoice(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    """Seed 002: ABC Shuttle pays the operator 10.00 a month for each account holding the
    product; with 50 accounts signed up on 1 May, its invoice for May is 500.00."""
    from tests.integration.test_billing_subscriptions import charge, plan, settled, subscribe

    reseller = create(client, admin, "resellers", name="ABC Shuttle")
    setup = billed_account(client, admin, None, name="Recording", reseller_id=reseller["id"])
    product, customer = setup["product"]["id"], setup["customer"]["id"]
    made = plan(client, admin, product, fee="10.00", name="Recording", level="reseller")
    may = "2026-05-01T00:00:00+00:00"
    clock.set(datetime.fromisoformat(may))
    accounts = [setup["account"]["id"]]
    for n in range(2, 51):
        account = create(client, admin, "accounts", customer_id=customer, login=f"rec-{n}")
        given = client.patch(
            f"/v1/accounts/{account['id']}", json={"product_id": product}, headers=admin
        )
        assert given.status_code == 200, given.text
        accounts.append(account["id"])
    for account in accounts:
        subscribed = subscribe(client, admin, account, made["id"], may)
        assert subscribed.status_code == 201, subscribed.text
    assert charge(runtime, clock, may) == 50
    clock.set(datetime(2026, 6, 1, 1, 0, 1, tzinfo=UTC))  # May's end plus the grace
    settled(runtime)  # the closer picks resellers with xDRs from the read model
    closed = invoicer(runtime).close_due()
    assert reseller_invoice_id(UUID(reseller["id"]), "2026-05", 1) in closed
    (invoice,) = eventually(lambda: invoices(client, admin, level="reseller") or None)
    assert (invoice["period"], invoice["total"], invoice["currency"]) == (
        "2026-05",
        "500.00",
        "EUR",
    )


def test_a_reprocess_for_one_reseller_reissues_only_its_invoice(
    client: TestClient, admin: Headers
) -> None:
    mine, other = reselling(client, admin), reselling(client, admin, name="Other")
    for setup in (mine, other):
        usage(client, admin, setup["account"]["id"], "4420", 60, at="2026-10-05T10:00:00+00:00")
        close(client, admin, "2026-10", reseller_id=setup["reseller"]["id"])
        fixed = client.post(
            f"/v1/tariffs/{setup['wholesale']['id']}/rates",
            json={"rates": [rate("44", "0.1500")], "reason": "wholesale price agreed"},
            headers=admin,
        )
        assert fixed.status_code == 200, fixed.text
    body = {"period": "2026-10", "reason": "ticket 8", "reseller_id": mine["reseller"]["id"]}
    both = client.post(
        "/v1/billing/reprocess",
        json={**body, "customer_id": mine["customer"]["id"]},
        headers=admin,
    )
    assert_problem(both, 422, "invalid_value")
    answer = client.post("/v1/billing/reprocess", json=body, headers=admin)
    assert answer.status_code == 202, answer.text
    job = wait_job(client, admin, answer.json()["id"])
    assert job["reseller_id"] == mine["reseller"]["id"]
    (entry,) = job["invoices"]
    assert (entry["reseller_id"], entry["new_total"]) == (mine["reseller"]["id"], "0.15")
    theirs = invoices(client, admin, level="reseller", reseller_id=other["reseller"]["id"])
    assert [(i["version"], i["status"]) for i in theirs] == [(1, "issued")]


def test_a_reprocess_job_recorded_before_reseller_filters_still_loads(runtime: Runtime) -> None:
    """`ReprocessJob.Requested` as stored before it had `reseller_id`: it decodes, and the
    job loads with none (every invoice of its period)."""
    import json
    from uuid import uuid4

    from eventsourcing.persistence import StoredEvent

    from domain.billing.invoices import ReprocessJob

    job_id = uuid4()
    old_state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-11-02T00:00:00+00:00"},
        "originator_topic": "domain.billing.invoices:ReprocessJob",
        "actor": {"_type_": "actor", "_data_": {"id": "ops", "realm": "admin", "role": "x"}},
        "correlation_id": "old-job",
        "causation_id": None,
        "period": "2026-10",
        "customer_id": None,
        "reason": "rate 33",
    }
    billing = service(runtime)
    billing.recorder.insert_events(
        [
            StoredEvent(
                originator_id=job_id,
                originator_version=1,
                topic="domain.billing.invoices:ReprocessJob.Requested",
                state=json.dumps(old_state).encode(),
            )
        ]
    )
    job = billing.load(job_id, ReprocessJob)
    assert (job.period, job.customer_id, job.reseller_id) == ("2026-10", None, None)


def test_a_resellers_period_closes_only_when_none_of_its_customers_calls_is_up(
    client: TestClient, admin: Headers, clock: Any
) -> None:
    from tests.integration.calls_helpers import live, ok, pbx, script, until
    from tests.integration.test_billing_subscriptions_rules import admin_at

    office = pbx(client, admin)
    reseller = create(client, admin, "resellers", name="Calls reseller")
    moved = client.patch(
        f"/v1/customers/{office['customer']['id']}",
        json={"reseller_id": reseller["id"]},
        headers=admin,
    )
    assert moved.status_code == 200, moved.text
    john = office["john"]["account_login"]
    script(client, admin, john, answer_after_ms=0)  # the clock stands still: answer at once
    script(client, admin, "15551230000", answer_after_ms=0)
    admin = admin_at(client, clock, "2026-10-31T23:59:00+00:00")
    call = ok(client, admin, "originate_advanced_call", caller_id=john, callee_id="15551230000")
    live(client, admin, call["call_id"], "connected", "connected")
    admin = admin_at(client, clock, "2026-11-01T02:00:00+00:00")  # still up after midnight
    period = "2026-10"
    up = close(client, admin, period, reseller_id=reseller["id"])
    assert up.status_code == 409, up.text
    assert "still up" in up.json()["detail"]
    ok(client, admin, "disconnect_call", call_id=call["call_id"])
    until(client, admin, call["call_id"], "terminated")
    closing = lambda: close(client, admin, period, reseller_id=reseller["id"])  # noqa: E731
    eventually(lambda: closing().status_code == 201 or None)
