"""Seed 000's worked example through the API: John Doe's customer class rounds half away
from zero, and his "Basic calls" subscription rounds its fee xDR at the plan's own
precision; the invoice total is rounded once at the class's invoice precision."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from adapters.clock import FileClock
from composition.runtime import Runtime
from tests.integration.billing_helpers import Headers, billed_account
from tests.integration.helpers import create
from tests.integration.test_billing_subscriptions import charge, fee_xdrs, plan, subscribe
from tests.integration.test_billing_subscriptions_rules import admin_at

START = "2026-11-03T00:00:00+00:00"  # 28 of November's 30 days: 10.00 x 28 / 30 = 9.3333…


@pytest.mark.parametrize(
    ("rounding", "precision", "fee"),
    [
        ("half_away_from_zero", 2, "9.33"),
        ("away_from_zero", 2, "9.34"),
        ("malaysian", 2, "9.35"),
        ("half_away_from_zero", 5, "9.33333"),
    ],
)
def test_john_does_basic_calls_fee_is_rounded_by_his_class_at_the_plans_precision(
    client: TestClient,
    admin: Headers,
    runtime: Runtime,
    clock: FileClock,
    rounding: str,
    precision: int,
    fee: str,
) -> None:
    klass = create(
        client,
        admin,
        "customer-classes",
        name="Lithuania",
        rounding=rounding,
        invoice_precision=2,
        usage_precision=2,
    )
    setup = billed_account(client, admin, None, name="John Doe", class_id=klass["id"])
    account, customer = setup["account"]["id"], setup["customer"]["id"]
    basic = plan(
        client, admin, setup["product"]["id"], name="Basic calls", fee="10.00", precision=precision
    )
    clock.set(datetime.fromisoformat(START))
    assert subscribe(client, admin, account, basic["id"], START).status_code == 201
    assert charge(runtime, clock, START) == 1
    (charged,) = fee_xdrs(client, admin, account, 1)
    assert charged["amount"] == fee
    assert (charged["rounding"], charged["precision"]) == (rounding, precision)
    closed = client.post(
        "/v1/billing/periods/close",
        json={"customer_id": customer, "period": "2026-11"},
        headers=admin_at(client, clock, "2026-12-01T02:00:00+00:00"),
    )
    assert closed.status_code == 201, closed.text
    totals = closed.json()["totals"]
    # the invoice rounds the exact sum once more, at the class's invoice precision (2)
    assert totals["total"] == (fee if precision == 2 else "9.33")
    assert totals["rounding"] == rounding
