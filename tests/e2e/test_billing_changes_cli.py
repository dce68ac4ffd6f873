"""`switchlog billing class-edit` and `plan-edit` as an operator runs them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from composition.billing import service
from composition.provisioning import service as provisioning
from composition.runtime import Runtime
from domain.billing.aggregates import CustomerClass
from domain.billing.subscriptions import PlanSpec, SubscriptionPlan
from tests.e2e.commands import switchlog
from tests.e2e.test_billing_cli import CTX, _env, _settings


def test_an_operator_fixes_a_class_rounding_and_a_plan_fee_or_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    rt = Runtime(_settings(tmp_path))
    try:
        billing = service(rt)
        klass = billing.create_customer_class(CTX, "Standard", "away_from_zero", 2, 2)
        product = provisioning(rt).create_product(CTX, "Calls", "main")
        plan = billing.create_plan(CTX, PlanSpec("Calls 100", product, Decimal(30), "EUR"))
    finally:
        rt.close()
    env = _env(tmp_path)
    refused = switchlog(
        ["billing", "class-edit", str(klass), "--rounding", "malaysian", "--reason", " "],
        env,
        tmp_path,
    )
    assert refused.returncode == 2 and refused.stderr.count("error:") == 1, refused.stderr
    fixed = switchlog(
        [
            "billing",
            "class-edit",
            str(klass),
            "--rounding",
            "half_away_from_zero",
            "--reason",
            "the regulator's rule",
        ],
        env,
        tmp_path,
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    edited = switchlog(
        [
            "billing",
            "plan-edit",
            str(plan),
            "--fee",
            "35.50",
            "--effective",
            later,
            "--reason",
            "price list 2027",
        ],
        env,
        tmp_path,
    )
    assert edited.returncode == 0, edited.stdout + edited.stderr
    past = switchlog(
        [
            "billing",
            "plan-edit",
            str(plan),
            "--fee",
            "1",
            "--effective",
            "2020-01-01T00:00:00Z",
            "--reason",
            "x",
        ],
        env,
        tmp_path,
    )
    assert past.returncode == 2 and "effective" in past.stderr
    rt = Runtime(_settings(tmp_path))
    try:
        billing = service(rt)
        assert billing.load(klass, CustomerClass).rounding == "half_away_from_zero"
        assert billing.load(plan, SubscriptionPlan).fee == Decimal("35.50")
    finally:
        rt.close()
