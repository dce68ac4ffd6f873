"""Two billing fixes (issue 12 follow-up), through the API on SQLite and PostgreSQL: a
no-funds outage belongs to the customer's current reseller (not one it has left), and a
reprocess names the cause that changed a rounding (a reclassification or a class edit)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from composition.balances import watcher
from composition.runtime import Runtime
from domain.billing.balances import FUNDS
from tests.conftest import eventually
from tests.integration.billing_helpers import Headers, billed_account, rate, tariff, usage
from tests.integration.conftest import login
from tests.integration.helpers import create
from tests.integration.test_billing_balances import pay, terms
from tests.integration.test_billing_invoices import close, wait_job

OUTAGE = "billing.ServiceOutage.Recorded"


def _outages_seen(client: TestClient, headers: Headers, customer_id: str) -> list[dict[str, Any]]:
    answer = client.get("/v1/audit", params={"type": OUTAGE}, headers=headers)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    return [e for e in items if e["changes"]["customer_id"]["after"] == customer_id]


def _recorded(client: TestClient, admin: Headers, customer_id: str) -> dict[str, Any]:
    """The outage's event once the audit trail shows it to the operator."""
    found = eventually(lambda: _outages_seen(client, admin, customer_id) or None, timeout=15)
    assert len(found) == 1
    event: dict[str, Any] = found[0]
    return event


def _run_out_after_moving(
    client: TestClient, admin: Headers, runtime: Runtime, to: str | None
) -> dict[str, Any]:
    """A prepaid customer of R1 (terms set while it was R1's), moved to `to`, then refunded
    into no funds; the watcher records the outage."""
    r1 = create(client, admin, "resellers", name="R1", login="r1", password="r1-password")
    customer = create(
        client,
        admin,
        "customers",
        name="Moving",
        currency="EUR",
        time_zone="UTC",
        reseller_id=r1["id"],
        login="moving",
        password="moving-password",
    )
    assert terms(client, admin, customer["id"], mode="prepaid").status_code == 200
    moved = client.patch(f"/v1/customers/{customer['id']}", json={"reseller_id": to}, headers=admin)
    assert moved.status_code == 200, moved.text
    assert moved.json()["reseller_id"] == to
    refund = pay(client, admin, customer["id"], "5.00", reference="back-1", kind="refund")
    assert refund.status_code == 201, refund.text
    watcher(runtime).catch_up()
    return customer


# -- 1. the funds watcher: the outage is the current reseller's -------------------------
def test_a_customer_moved_to_the_operator_runs_out_of_funds_unseen_by_its_old_reseller(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    customer = _run_out_after_moving(client, admin, runtime, None)
    event = _recorded(client, admin, customer["id"])
    assert "reseller_id" not in event["changes"]  # the operator's: no reseller
    assert event["actor"]["id"] == FUNDS.id
    assert _outages_seen(client, login(client, "moving", "moving-password"), customer["id"])
    assert _outages_seen(client, login(client, "r1", "r1-password"), customer["id"]) == []


def test_a_customer_moved_to_another_reseller_runs_out_of_funds_seen_by_the_new_one(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    r2 = create(client, admin, "resellers", name="R2", login="r2", password="r2-password")
    customer = _run_out_after_moving(client, admin, runtime, r2["id"])
    event = _recorded(client, admin, customer["id"])
    assert event["changes"]["reseller_id"]["after"] == r2["id"]
    assert _outages_seen(client, login(client, "r2", "r2-password"), customer["id"])
    assert _outages_seen(client, login(client, "moving", "moving-password"), customer["id"])
    assert _outages_seen(client, login(client, "r1", "r1-password"), customer["id"]) == []


# -- 2. a reprocess names the change that made the new rounding -------------------------
def _classes(client: TestClient, admin: Headers) -> tuple[str, str]:
    standard = create(client, admin, "customer-classes", name="Standard")
    premium = create(client, admin, "customer-classes", name="Premium")
    assert standard["rounding"] == premium["rounding"] == "away_from_zero"
    return standard["id"], premium["id"]


def _edit(client: TestClient, admin: Headers, class_id: str, reason: str) -> None:
    body = {"rounding": "half_away_from_zero", "reason": reason}
    edited = client.patch(f"/v1/customer-classes/{class_id}", json=body, headers=admin)
    assert edited.status_code == 200, edited.text


def _reclassify(client: TestClient, admin: Headers, customer_id: str, class_id: str) -> None:
    answer = client.patch(
        f"/v1/customers/{customer_id}", json={"customer_class_id": class_id}, headers=admin
    )
    assert answer.status_code == 200, answer.text


def _reprocessed_cause(client: TestClient, admin: Headers) -> str:
    """October reprocessed: the one changed xDR's cause (1.214 was 1.22, now 1.21)."""
    answer = client.post(
        "/v1/billing/reprocess", json={"period": "2026-10", "reason": "rounding"}, headers=admin
    )
    assert answer.status_code == 202, answer.text
    job = wait_job(client, admin, answer.json()["id"])
    assert job["status"] == "completed", job
    (entry,) = job["invoices"]
    assert (entry["old_total"], entry["new_total"]) == ("1.22", "1.21")
    (change,) = entry["changes"]
    assert (change["old_amount"], change["new_amount"]) == ("1.22", "1.21")
    cause: str = change["cause"]
    return cause


def test_a_reprocess_after_a_reclassification_names_it_not_an_old_edit_of_the_new_class(
    client: TestClient, admin: Headers
) -> None:
    standard, premium = _classes(client, admin)
    _edit(client, admin, premium, "an old fix")  # long before this customer joins it
    prices = tariff(client, admin, [rate("441", "1.214")])
    setup = billed_account(client, admin, prices["id"], class_id=standard)
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    assert usage(client, admin, account, "4410", 60).json()["amount"] == "1.22"
    assert close(client, admin, customer, "2026-10").status_code == 201
    _reclassify(client, admin, customer, premium)
    assert _reprocessed_cause(client, admin) == (
        "customer class changed: Standard -> Premium (away_from_zero/2 -> half_away_from_zero/2)"
    )


def test_a_reprocess_after_an_edit_of_the_class_names_the_edit_and_its_reason(
    client: TestClient, admin: Headers
) -> None:
    standard, premium = _classes(client, admin)
    prices = tariff(client, admin, [rate("441", "1.214")])
    setup = billed_account(client, admin, prices["id"], class_id=standard)
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    _reclassify(client, admin, customer, premium)  # before its calls: not the cause
    assert usage(client, admin, account, "4410", 60).json()["amount"] == "1.22"
    assert close(client, admin, customer, "2026-10").status_code == 201
    _edit(client, admin, premium, "the regulator's rule")
    assert _reprocessed_cause(client, admin) == (
        "rounding changed: class Premium away_from_zero/2 -> half_away_from_zero/2"
        " (the regulator's rule)"
    )
