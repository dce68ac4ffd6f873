"""The subscription charger's money fixes (issue 12 follow-up), through the real charger
and what a user reads (`GET /v1/xdrs`, invoices), on SQLite and PostgreSQL: a credit gives
back the fee that was charged, a read model behind a fee change is reconciled, a charge
into a closed period lands in the open one, and an xDR's `rate.fee` is the plan's fee in
force for it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from adapters.clock import FileClock
from api.app import create_app
from composition.billing import charger, service
from composition.runtime import Runtime
from domain.shared.actor import Actor, CommandContext
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, eventually
from tests.integration.billing_helpers import Headers, billed_account
from tests.integration.conftest import login, make_settings
from tests.integration.helpers import create
from tests.integration.test_billing_invoices import close, invoices
from tests.integration.test_billing_subscriptions import charge, fee_xdrs, plan, subscribe
from tests.integration.test_billing_subscriptions_rules import NOV, adjust, admin_at

OCT = "2026-10-01T00:00:00+00:00"
DEC = "2026-12-01T00:00:00+00:00"
OPERATOR = CommandContext(Actor.system("test-operator"))


def total(xdrs: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(x["amount"]) for x in xdrs), Decimal(0))


def outage(client: TestClient, headers: Headers, customer: str, start: str, end: str) -> None:
    body = {"customer_id": customer, "condition": "suspended", "start": start, "end": end}
    answer = client.post("/v1/service-outages", json=body, headers=headers)
    assert answer.status_code == 201, answer.text


# -- 1. a credit gives back the fee that was charged ----------------------------------------
@pytest.mark.parametrize(
    ("fields", "credit", "invoiced"),
    [
        # not prorated, in advance: November was charged 30.00 once, never corrected
        ({"prorate": False}, "-1.00", "28.00"),
        # not prorated, in arrears: the fee in force when November opened, 30.00
        ({"prorate": False, "charged": "in_arrears"}, "-1.00", "28.00"),
        # a 3-month prepaid term of 92 days charged 90.00 when it opened
        ({"prepaid_months": 3, "fee": "90.00"}, "-0.98", "88.04"),
    ],
    ids=["in-advance", "in-arrears", "prepaid"],
)
def test_a_credit_after_a_fee_rise_gives_back_the_fee_charged_for_its_period(
    client: TestClient,
    admin: Headers,
    runtime: Runtime,
    clock: FileClock,
    fields: dict[str, Any],
    credit: str,
    invoiced: str,
) -> None:
    setup = billed_account(client, admin, None)
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], **{"fee": "30.00", **fields})
    headers = admin_at(client, clock, NOV)
    subscribe(client, headers, account, made["id"], NOV)
    charge(runtime, clock, NOV)
    headers = admin_at(client, clock, "2026-11-11T09:00:00+00:00")
    raised = Decimal(made["fee"]) * 2
    edited = client.patch(
        f"/v1/subscription-plans/{made['id']}",
        json={"fee": str(raised), "reason": "price rise"},
        headers=headers,
    )
    assert edited.status_code == 200, edited.text
    outage(client, headers, customer, "2026-11-20T00:00:00+00:00", "2026-11-22T00:00:00+00:00")
    charge(runtime, clock, "2026-11-30T12:00:00+00:00")
    headers = admin_at(client, clock, "2026-12-01T02:00:00+00:00")
    charge(runtime, clock, DEC)
    xdrs = fee_xdrs(client, headers, account, 3)
    credits = [x for x in xdrs if x["service"] == "credit"]
    assert [(c["connect_time"][:10], c["amount"]) for c in credits] == [
        ("2026-11-20", credit),
        ("2026-11-21", credit),
    ]
    assert {c["rate"]["fee_adjusted"] for c in credits} == {made["fee"]}
    closed = close(client, headers, customer, "2026-11")
    assert closed.status_code == 201, closed.text
    assert closed.json()["total"] == invoiced


def test_a_credit_on_a_prorated_plan_still_gives_back_the_days_own_fee(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00")
    headers = admin_at(client, clock, NOV)
    subscribe(client, headers, account, made["id"], NOV)
    charge(runtime, clock, NOV)
    headers = admin_at(client, clock, "2026-11-11T09:00:00+00:00")
    edited = client.patch(
        f"/v1/subscription-plans/{made['id']}",
        json={"fee": "60.00", "reason": "price rise"},
        headers=headers,
    )
    assert edited.status_code == 200, edited.text
    outage(client, headers, customer, "2026-11-20T00:00:00+00:00", "2026-11-21T00:00:00+00:00")
    charge(runtime, clock, "2026-11-30T12:00:00+00:00")
    xdrs = fee_xdrs(client, headers, account, 3)
    (credit,) = [x for x in xdrs if x["service"] == "credit"]
    assert credit["amount"] == "-2.00"  # the correction made the 20th cost 60.00 / 30


# -- 2. a read model behind a fee change is reconciled ------------------------------------
class Follower:
    """This test's projector: follows the log as serve's runner does, except for the read
    models it holds back (a `subscriptions` read model lagging a fee change)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runner = runtime.runner
        self.source = runtime.source
        self.held: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            names = [n for n in self.runner.projections if n not in self.held]
            with contextlib.suppress(Exception):  # a failed batch is tried again
                self.runner.catch_up(names)
            self._stop.wait(0.01)

    def caught_up(self) -> None:
        end = self.source.max_position()
        eventually(lambda: all(self.runner.position(n) >= end for n in self.runner.projections))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def lagging(store_url: str, tmp_path: Path, clock: FileClock) -> Iterator[Any]:
    """A runtime and client whose read models only this test's Follower projects."""
    settings = make_settings(
        store_url,
        tmp_path,
        test_clock_file=clock.path,
        projections_in_process=False,
        billing_charge_settle_seconds=0.2,  # the charger must charge from a held-back model
    )
    runtime = Runtime(settings)
    runtime.bootstrap_admin()
    follower = Follower(runtime)
    try:
        with TestClient(create_app(settings, runtime)) as client:
            yield runtime, client, follower
    finally:
        follower.close()
        runtime.close()


def test_a_fee_change_the_read_model_had_not_shown_yet_is_fixed_once_even_by_two_chargers(
    lagging: Any, clock: FileClock
) -> None:
    runtime, client, follower = lagging
    admin = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    setup = billed_account(client, admin, None)
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00")
    headers = admin_at(client, clock, "2026-10-31T22:00:00+00:00")
    assert subscribe(client, headers, account, made["id"], NOV).status_code == 201
    follower.caught_up()
    follower.held.add("subscriptions")
    # a fee change from November's opening, which the charger's read model does not show
    service(runtime).edit_plan(
        OPERATOR,
        UUID(made["id"]),
        "new price list",
        fee=Decimal("25.00"),
        effective=datetime.fromisoformat(NOV),
    )
    assert charge(runtime, clock, NOV) == 1
    headers = admin_at(client, clock, "2026-11-01T01:00:00+00:00")
    (stale,) = fee_xdrs(client, headers, account, 1)
    assert stale["amount"] == "30.00"  # charged at the old fee
    follower.held.clear()
    follower.caught_up()
    # two chargers at once compute the same fix; the integrity conflict keeps it single
    made_by: list[int] = []
    both = [
        threading.Thread(target=lambda: made_by.append(charger(runtime).charge())) for _ in range(2)
    ]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join()
    assert sum(made_by) == 1
    assert charger(runtime).charge() == 0
    xdrs = fee_xdrs(client, headers, account, 2)
    assert len(xdrs) == 2 and total(xdrs) == Decimal("25.00")
    (fix,) = [x for x in xdrs if x["amount"] == "-5.00"]
    assert fix["rate"]["detail"].startswith("fee 30.00 -> 25.00 for 2026-11-01 (charged at 30.00)")
    assert fix["connect_time"].startswith("2026-11-01T00:00")
    # a later change inside the month is corrected as before, on top of the fixed fee
    headers = admin_at(client, clock, "2026-11-11T09:00:00+00:00")
    edited = client.patch(
        f"/v1/subscription-plans/{made['id']}",
        json={"fee": "40.00", "reason": "raise"},
        headers=headers,
    )
    assert edited.status_code == 200, edited.text
    follower.caught_up()
    assert charge(runtime, clock, "2026-11-11T09:00:00+00:00") == 1
    assert charge(runtime, clock, "2026-11-11T09:00:00+00:00") == 0
    xdrs = fee_xdrs(client, headers, account, 3)
    assert total(xdrs) == Decimal("35.00")  # 10 days at 25, 20 at 40 = 8.33 + 26.67
    headers = admin_at(client, clock, "2026-12-01T02:00:00+00:00")
    follower.caught_up()
    closed = close(client, headers, customer, "2026-11")
    assert closed.status_code == 201, closed.text
    assert closed.json()["total"] == "35.00"


def test_a_charger_reading_a_rebuilding_read_model_reverses_a_fix_and_the_next_round_mends_it(
    lagging: Any, clock: FileClock
) -> None:
    """A `subscriptions` read model rebuilt in place shows the old fee for a while: a charger
    then fixes the fixed charge back (30.00 again). The next round, the model caught up,
    fixes it once more (25.00), as a new link of the chain: the charger never loops on a
    total the chain had before."""
    runtime, client, follower = lagging
    admin = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    setup = billed_account(client, admin, None)
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00")
    headers = admin_at(client, clock, "2026-10-31T22:00:00+00:00")
    assert subscribe(client, headers, account, made["id"], NOV).status_code == 201
    follower.caught_up()
    before_edit = runtime.source.max_position()
    follower.held.add("subscriptions")
    service(runtime).edit_plan(
        OPERATOR,
        UUID(made["id"]),
        "new price list",
        fee=Decimal("25.00"),
        effective=datetime.fromisoformat(NOV),
    )
    assert charge(runtime, clock, NOV) == 1  # at 30.00, from the held-back model
    follower.held.clear()
    follower.caught_up()
    assert charge(runtime, clock, NOV) == 1  # fix 1: -5.00
    # the read model is rebuilt, and a charger reads it when it is back before the edit
    follower.held.add("subscriptions")
    runner = runtime.runner
    runner.reset(["subscriptions"])
    batch, runner.batch_size = runner.batch_size, 1
    try:
        while runner.position("subscriptions") < before_edit:
            runner.step(["subscriptions"])
    finally:
        runner.batch_size = batch
    assert charge(runtime, clock, NOV) == 1  # fix 2: +5.00, back at the stale 30.00
    headers = admin_at(client, clock, "2026-11-01T01:00:00+00:00")
    assert total(fee_xdrs(client, headers, account, 3)) == Decimal("30.00")
    follower.held.clear()
    follower.caught_up()
    assert charge(runtime, clock, NOV) == 1  # fix 3: -5.00, a new link (it used to loop)
    assert charge(runtime, clock, NOV) == 0
    xdrs = fee_xdrs(client, headers, account, 4)
    assert total(xdrs) == Decimal("25.00")
    assert sorted(x["amount"] for x in xdrs) == ["-5.00", "-5.00", "30.00", "5.00"]


# -- 3. a charge into a closed period -------------------------------------------------------
def test_a_credit_for_a_closed_october_recorded_late_shows_on_novembers_invoice(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="31.00")
    headers = admin_at(client, clock, OCT)
    subscribe(client, headers, account, made["id"], OCT)
    charge(runtime, clock, OCT)
    charge(runtime, clock, NOV)
    headers = admin_at(client, clock, "2026-11-01T02:00:00+00:00")
    october = close(client, headers, customer, "2026-10")
    assert october.status_code == 201, october.text
    assert october.json()["total"] == "31.00"
    headers = admin_at(client, clock, "2026-11-05T10:00:00+00:00")
    outage(client, headers, customer, "2026-10-12T00:00:00+00:00", "2026-10-13T00:00:00+00:00")
    assert charge(runtime, clock, "2026-11-05T10:00:00+00:00") == 1
    xdrs = fee_xdrs(client, headers, account, 3)
    (credit,) = [x for x in xdrs if x["service"] == "credit"]
    assert credit["amount"] == "-1.00"
    assert credit["connect_time"].startswith("2026-11-05T10:00")
    assert credit["rate"]["detail"].startswith("late: credit for 2026-10-12: no service on")
    assert charge(runtime, clock, "2026-11-06T10:00:00+00:00") == 0
    headers = admin_at(client, clock, "2026-12-01T02:00:00+00:00")
    november = close(client, headers, customer, "2026-11")
    assert november.status_code == 201, november.text
    assert november.json()["total"] == "30.00"  # 31.00 less the October day of 1.00
    (shown,) = [
        i for i in invoices(client, headers, customer_id=customer) if i["period"] == "2026-10"
    ]
    assert shown["total"] == "31.00" and shown["content_hash"] == october.json()["content_hash"]


# -- 4. rate.fee --------------------------------------------------------------------------
def test_a_fee_xdr_names_the_plans_fee_in_force_not_a_change_scheduled_later(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    setup = billed_account(client, admin, None)
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="30.00")
    headers = admin_at(client, clock, NOV)
    sub = subscribe(client, headers, account, made["id"], NOV).json()
    assert adjust(client, headers, sub["id"], "relative_discount", "50").status_code == 200
    edited = client.patch(
        f"/v1/subscription-plans/{made['id']}",
        json={"fee": "20.00", "effective": DEC, "reason": "yearly review"},
        headers=headers,
    )
    assert edited.status_code == 200, edited.text
    assert charge(runtime, clock, NOV) == 1
    (november,) = fee_xdrs(client, headers, account, 1)
    assert november["rate"]["fee"] == "30.00"  # not the 20.00 scheduled for December
    assert Decimal(november["rate"]["fee_adjusted"]) == Decimal("15.00")
    charge(runtime, clock, DEC)
    december = [x for x in fee_xdrs(client, headers, account, 2) if x["id"] != november["id"]]
    (later,) = december
    assert later["rate"]["fee"] == "20.00"
    assert Decimal(later["rate"]["fee_adjusted"]) == Decimal("10.00")


def test_a_rounding_fix_on_the_class_does_not_re_round_a_fee_already_charged(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    klass = create(client, admin, "customer-classes", name="Standard")
    setup = billed_account(client, admin, None, class_id=klass["id"])
    account = setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="10.00")
    start = "2026-11-24T00:00:00+00:00"
    headers = admin_at(client, clock, start)
    subscribe(client, headers, account, made["id"], start)
    assert charge(runtime, clock, start) == 1
    (fee,) = fee_xdrs(client, headers, account, 1)
    assert fee["amount"] == "2.34"  # 7 days of 30 at 10.00, away from zero
    fixed = client.patch(
        f"/v1/customer-classes/{klass['id']}",
        json={"rounding": "half_away_from_zero", "reason": "the regulator's rule"},
        headers=headers,
    )
    assert fixed.status_code == 200, fixed.text
    assert charge(runtime, clock, "2026-11-25T00:00:00+00:00") == 0
    assert charge(runtime, clock, DEC) == 1  # December, at the new rule
    assert [x["amount"] for x in fee_xdrs(client, headers, account, 2)] == ["2.34", "10.00"]


def test_a_resellers_credit_for_its_closed_october_lands_in_its_november(
    client: TestClient, admin: Headers, runtime: Runtime, clock: FileClock
) -> None:
    reseller = create(client, admin, "resellers", name="ABC Shuttle")
    setup = billed_account(client, admin, None, reseller_id=reseller["id"])
    customer, account = setup["customer"]["id"], setup["account"]["id"]
    made = plan(client, admin, setup["product"]["id"], fee="31.00", level="reseller")
    headers = admin_at(client, clock, OCT)
    assert subscribe(client, headers, account, made["id"], OCT).status_code == 201
    charge(runtime, clock, OCT)
    charge(runtime, clock, NOV)
    headers = admin_at(client, clock, "2026-11-01T02:00:00+00:00")
    body = {"period": "2026-10", "reseller_id": reseller["id"]}
    october = client.post("/v1/billing/periods/close", json=body, headers=headers)
    assert october.status_code == 201, october.text
    assert october.json()["total"] == "31.00"
    headers = admin_at(client, clock, "2026-11-05T10:00:00+00:00")
    outage(client, headers, customer, "2026-10-12T00:00:00+00:00", "2026-10-13T00:00:00+00:00")
    assert charge(runtime, clock, "2026-11-05T10:00:00+00:00") == 1
    xdrs = fee_xdrs(client, headers, account, 3, level="reseller")
    (credit,) = [x for x in xdrs if x["service"] == "credit"]
    assert credit["connect_time"].startswith("2026-11-05T10:00")
    assert credit["rate"]["detail"].startswith("late: credit for 2026-10-12")
    headers = admin_at(client, clock, "2026-12-01T02:00:00+00:00")
    body = {"period": "2026-11", "reseller_id": reseller["id"]}
    november = client.post("/v1/billing/periods/close", json=body, headers=headers)
    assert november.status_code == 201, november.text
    assert november.json()["total"] == "30.00"
