"""`switchlog billing charge --once` as an operator runs it: the charger as its own process."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from composition.billing import service
from composition.provisioning import customer_owner
from composition.provisioning import service as provisioning
from composition.runtime import Runtime
from domain.billing.subscriptions import PlanSpec
from domain.directory.access import Scope
from domain.shared.actor import Realm
from tests.e2e.commands import switchlog
from tests.e2e.test_billing_cli import CTX, _env, _settings


def test_billing_charge_once_makes_the_fees_due_and_never_twice(tmp_path: Path) -> None:
    rt = Runtime(_settings(tmp_path))
    try:
        product = provisioning(rt).create_product(CTX, "Recording", "main")
        customer = rt.directory.create_customer(CTX, "ABC", "EUR", "UTC", None, None, None)
        account = rt.directory.create_account(CTX, customer, "abc-1", None)
        owner = customer_owner(rt, customer)
        provisioning(rt).set_agreement(CTX, owner, [(product, 0)])
        provisioning(rt).set_main_product(CTX, owner, account, product)
        plan = service(rt).create_plan(
            CTX, PlanSpec("Recording", product, Decimal("20"), "EUR", prorate=False)
        )
        service(rt).subscribe(CTX, account, plan, datetime.now(UTC))
        rt.runner.catch_up()  # the charger reads the subscriptions read model
        for _ in range(2):
            once = switchlog(["billing", "charge", "--once"], _env(tmp_path), tmp_path)
            assert once.returncode == 0, once.stdout + once.stderr
            assert "charges made" in once.stdout
            rt.runner.catch_up()
        from composition.billing import queries

        xdrs = queries(rt).xdrs(Scope(Realm.SYSTEM), {}, 100, 0)[0]
        assert [(x["service"], x["amount"]) for x in xdrs] == [("subscription", "20.00")]
    finally:
        rt.close()
