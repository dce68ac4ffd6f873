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
    setup = billed(client, admin, time_zone="Europe/Paris")
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    # 2026-10-25 is 25 hours long in Paris (CEST -> CET): both calls are on that day
    usage(client, admin, account, "4420", 60, at="2026-10-24T22:30:00+00:00")  # 00:30 CEST
    usage(client, admin, account, "4420", 60, at="2026-10-25T22:30:00+00:00")  # 23:30 CET
    usage(client, admin, account, "4420", 60, at="2026-10-25T23:30:00+00:00")  # next day
    invoice = close(client, admin, customer, "2026-10-25").json()
    assert invoice["totals"]["xdrs"] == 2
    assert invoice["start"].startswith("2026-10-24T22:00:00")
    assert invoice["end"].startswith("2026-10-25T23:00:00")
    week = close(client, admin, customer, "2026-W43").json()  # Mon 19 .. Sun 25 October
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
