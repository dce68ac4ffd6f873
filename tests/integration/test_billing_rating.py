"""Rating through the API: usage in, xDRs out, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.integration.billing_helpers import Headers, billed_account, rate, tariff, usage


def test_thirty_six_billing_bills_95_seconds_as_96(client: TestClient, admin: Headers) -> None:
    made = tariff(client, admin, [rate("44", "0.60", 30, 6)])
    setup = billed_account(client, admin, made["id"])
    answer = usage(client, admin, setup["account"]["id"], "4420712345678", 95)
    assert answer.status_code == 201, answer.text
    xdr = answer.json()
    assert xdr["status"] == "rated"
    assert xdr["charged_seconds"] == 96
    assert xdr["amount"] == "0.96"
    assert xdr["rate_prefix"] == "44"
    assert xdr["level"] == "customer"
