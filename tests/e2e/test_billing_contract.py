"""Issue 12's "Interfaces other clients rely on", exactly as a billing team's script uses
them: a real `switchlog serve` over HTTP, and the `switchlog` CLI for replay. Paths, field
names and money as decimal strings are the contract; a rename anywhere fails here."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.processes import Server, base_env, run_cli

ADMIN = {"SWITCHLOG_ADMIN_LOGIN": "root", "SWITCHLOG_ADMIN_PASSWORD": "root-pass-1"}
RATE = {
    "prefix": "44",
    "price_per_minute": "0.60",
    "first_interval": 30,
    "next_interval": 6,
    "connection_fee": "0.00",
    "free_seconds": 0,
    "off_peak_price_per_minute": "0.60",
    "access_code": "outgoing",
    "effective_from": "2026-01-01T00:00:00+00:00",
    "effective_to": "2027-01-01T00:00:00+00:00",
}


@pytest.fixture
def env(store_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **base_env(),
        **ADMIN,
        "SWITCHLOG_STORE_URL": store_url,
        "SWITCHLOG_VAR_DIR": str(tmp_path / "var"),
        "SWITCHLOG_JWT_SECRET": "contract-test-secret-0123456789abcdef",
    }


@pytest.fixture
def api(env: dict[str, str], tmp_path: Path) -> Iterator[httpx.Client]:
    server = Server(env, tmp_path)
    try:
        token = httpx.post(
            f"{server.url}/v1/auth/token", data={"username": "root", "password": "root-pass-1"}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            yield client
    finally:
        server.stop()


def _ok(answer: httpx.Response, *codes: int) -> Any:
    assert answer.status_code in (codes or (200, 201)), answer.text
    return answer.json()


def _job(api: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        shown = _ok(api.get(f"/v1/billing/reprocess/{job_id}"), 200)
        if shown["status"] != "running":
            return shown  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"reprocess {job_id} still running")


def _billed_account(api: httpx.Client) -> dict[str, Any]:
    klass = _ok(
        api.post(
            "/v1/customer-classes",
            json={
                "name": "Contract",
                "rounding": "half_away_from_zero",
                "invoice_precision": 2,
                "usage_precision": 3,
            },
        ),
        201,
    )
    assert (klass["rounding"], klass["invoice_precision"], klass["usage_precision"]) == (
        "half_away_from_zero",
        2,
        3,
    )
    tariff = _ok(
        api.post(
            "/v1/tariffs",
            json={
                "name": "Retail",
                "currency": "EUR",
                "precision": 2,
                "rates": [RATE],
                "peak_periods": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00",
                                  "to": "18:00"}],
            },
        ),
        201,
    )  # fmt: skip
    product = _ok(api.post("/v1/products", json={"name": "Calls", "kind": "main"}), 201)
    patched = _ok(api.patch(f"/v1/products/{product['id']}", json={"tariff_id": tariff["id"]}))
    assert patched["tariff_id"] == tariff["id"]
    customer = _ok(
        api.post("/v1/customers", json={"name": "ABC", "currency": "EUR", "time_zone": "UTC"}),
        201,
    )
    classified = api.patch(
        f"/v1/customers/{customer['id']}", json={"customer_class_id": klass["id"]}
    )
    assert _ok(classified)["customer_class_id"] == klass["id"]
    _ok(
        api.put(
            f"/v1/customers/{customer['id']}/agreement",
            json={"products": [{"product_id": product["id"], "quantity": 0}]},
        )
    )
    account = _ok(
        api.post("/v1/accounts", json={"customer_id": customer["id"], "login": "abc-1"}), 201
    )
    _ok(api.patch(f"/v1/accounts/{account['id']}", json={"product_id": product["id"]}))
    return {"tariff": tariff, "customer": customer, "account": account}


def _usage(api: httpx.Client, account: str, cld: str, seconds: int, record: str) -> Any:
    return api.post(
        "/v1/usage",
        json={
            "account_id": account,
            "service": "voice",
            "cli": "442071234567",
            "cld": cld,
            "connect_time": "2026-10-05T10:00:00+00:00",
            "duration_seconds": seconds,
            "record_id": record,
        },
    )


def test_a_billing_teams_script_runs_against_the_documented_interface(
    api: httpx.Client, env: dict[str, str], tmp_path: Path
) -> None:
    made = _billed_account(api)
    tariff, account = made["tariff"]["id"], made["account"]["id"]
    customer = made["customer"]["id"]

    changed = api.post(
        f"/v1/tariffs/{tariff}/rates",
        json={"rates": [{**RATE, "prefix": "33", "price_per_minute": "1.00"}], "reason": "France"},
    )
    _ok(changed)
    uploaded = api.post(
        f"/v1/tariffs/{tariff}/rates/uploads",
        files={"file": ("rates.csv", b"prefix,price_per_minute,first_interval,next_interval\n"
                        b"49,0.20,60,60\n", "text/csv")},
        data={"reason": "Germany"},
    )  # fmt: skip
    _ok(uploaded, 201)

    first = _ok(_usage(api, account, "4420", 95, "cdr-1"), 201)  # 30/6: 95 s -> 96 s
    again = _ok(_usage(api, account, "4420", 95, "cdr-1"), 200)  # same record: the first
    assert again == first
    _ok(_usage(api, account, "99", 60, "cdr-2"), 201)  # no rate for 99
    xdrs = _ok(api.get("/v1/xdrs", params={"account_id": account}), 200)["items"]
    by_cld = {x["cld"]: x for x in xdrs}
    assert len(xdrs) == 2
    rated, unrated = by_cld["4420"], by_cld["99"]
    assert {
        k: rated[k] for k in ("amount", "charged_seconds", "rate_prefix", "status", "level")
    } == {
        "amount": "0.96",
        "charged_seconds": 96,
        "rate_prefix": "44",
        "status": "rated",
        "level": "customer",
    }
    assert unrated["status"] == "unrated" and unrated["amount"] is None and unrated["reason"]
    assert _ok(api.get("/v1/xdrs", params={"account_id": account, "level": "reseller"}))[
        "items"
    ] == []  # no reseller above this customer  # fmt: skip

    invoice = _ok(
        api.post("/v1/billing/periods/close", json={"customer_id": customer, "period": "2026-10"}),
        201,
    )
    (listed,) = _ok(api.get("/v1/invoices", params={"customer_id": customer}))["items"]
    assert {k: listed[k] for k in ("id", "period", "total", "status", "version")} == {
        "id": invoice["id"],
        "period": "2026-10",
        "total": "0.96",
        "status": "issued",
        "version": 1,
    }
    assert re.fullmatch(r"[0-9a-f]{64}", listed["content_hash"])

    printed = run_cli(
        ["billing", "replay", "--customer", customer, "--period", "2026-10"], env, tmp_path
    )
    assert f"content_hash: {listed['content_hash']}" in printed.splitlines()

    _ok(
        api.post(
            f"/v1/tariffs/{tariff}/rates",
            json={"rates": [{**RATE, "price_per_minute": "0.50"}], "reason": "price fix"},
        )
    )
    accepted = api.post(
        "/v1/billing/reprocess",
        json={"period": "2026-10", "customer_id": customer, "reason": "price fix"},
    )
    assert accepted.status_code == 202, accepted.text
    job = _job(api, accepted.json()["id"])
    assert job["status"] == "completed"
    (entry,) = job["invoices"]
    assert (entry["old_total"], entry["new_total"]) == ("0.96", "0.80")
    (change,) = entry["changes"]
    assert (change["old_amount"], change["new_amount"]) == ("0.96", "0.80")
    assert "price_per_minute 0.60 -> 0.50" in change["cause"]
    newer = _ok(api.get(f"/v1/invoices/{entry['new_invoice_id']}"))
    assert (newer["version"], newer["status"], newer["total"]) == (2, "issued", "0.80")
    old = _ok(api.get(f"/v1/invoices/{invoice['id']}"))
    assert (old["status"], old["total"]) == ("void", "0.96")  # the old version stays readable
