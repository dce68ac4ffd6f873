"""Building a billed customer through the API: a tariff on a product, an account holding it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.integration.helpers import create

Headers = dict[str, str]


def rate(prefix: str, price: str, first: int = 60, nxt: int = 60, **more: Any) -> dict[str, Any]:
    return {
        "prefix": prefix,
        "price_per_minute": price,
        "first_interval": first,
        "next_interval": nxt,
        **more,
    }


def tariff(
    client: TestClient, admin: Headers, rates: list[dict[str, Any]], **more: Any
) -> dict[str, Any]:
    body = {"name": more.pop("name", "Standard"), "currency": "EUR", "precision": 2, **more}
    return create(client, admin, "tariffs", rates=rates, **body)


def billed_account(
    client: TestClient,
    admin: Headers,
    tariff_id: str | None,
    *,
    name: str = "ABC",
    time_zone: str = "UTC",
    reseller_id: str | None = None,
    class_id: str | None = None,
    billing_period: str | None = None,
) -> dict[str, Any]:
    """A customer (with its class, and its period kind from the start when given) and an
    account whose main product has the tariff."""
    product = create(client, admin, "products", name=f"{name} calls", kind="main")
    if tariff_id is not None:
        patched = client.patch(
            f"/v1/products/{product['id']}", json={"tariff_id": tariff_id}, headers=admin
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["tariff_id"] == tariff_id
    customer = create(
        client,
        admin,
        "customers",
        name=name,
        currency="EUR",
        time_zone=time_zone,
        reseller_id=reseller_id,
        **({"billing_period": billing_period} if billing_period else {}),
    )
    if class_id is not None:
        patched = client.patch(
            f"/v1/customers/{customer['id']}", json={"customer_class_id": class_id}, headers=admin
        )
        assert patched.status_code == 200, patched.text
    agreed = client.put(
        f"/v1/customers/{customer['id']}/agreement",
        json={"products": [{"product_id": product["id"], "quantity": 0}]},
        headers=admin,
    )
    assert agreed.status_code == 200, agreed.text
    account = create(client, admin, "accounts", customer_id=customer["id"], login=f"{name}-1")
    given = client.patch(
        f"/v1/accounts/{account['id']}", json={"product_id": product["id"]}, headers=admin
    )
    assert given.status_code == 200, given.text
    return {"customer": customer, "account": account, "product": product}


def usage(
    client: TestClient,
    admin: Headers,
    account_id: str,
    cld: str,
    seconds: int,
    at: str = "2026-10-05T10:00:00+00:00",
    **more: Any,
) -> Any:
    body = {
        "account_id": account_id,
        "service": "voice",
        "cli": "442071234567",
        "cld": cld,
        "connect_time": at,
        "duration_seconds": seconds,
        **more,
    }
    return client.post("/v1/usage", json=body, headers=admin)


def emit_every_billing_event(rt: Any, ctx: Any, reseller: Any, customer: Any, account: Any) -> None:
    """One use case of each billing kind (and a usage record: calls.Leg.Recorded/.Finished),
    for the store -> Kafka round trip of every event type."""
    from datetime import UTC, datetime

    from composition.billing import service
    from domain.billing.application import Usage

    billing = service(rt)
    klass = billing.create_customer_class(ctx, "Round trip class", "malaysian", 2, 4)
    tariff_id = billing.create_tariff(
        ctx,
        "Round trip tariff",
        "EUR",
        3,
        [rate("44", "0.60")],
        [{"days": ["mon"], "from": "08:00", "to": "18:00"}],
    )
    billing.change_rates(ctx, tariff_id, [rate("4420", "0.10")], "round trip")
    billing.set_customer_class(ctx, customer, klass)
    billing.set_customer_class(ctx, customer, None)
    product = rt.services["provisioning"].create_product(ctx, "Round trip product", "main")
    billing.set_product_tariff(ctx, product, tariff_id)
    billing.set_product_tariff(ctx, product, None)
    billing.configure_reseller(ctx, reseller, currency="EUR", tariff_id=tariff_id)
    billing.configure_reseller(ctx, reseller, time_zone="Europe/Vilnius")
    at = datetime(2026, 10, 5, 10, tzinfo=UTC)
    billing.record_usage(ctx, Usage(account, "voice", "1", "4420", at, 60, "round-trip"))
    rt.rater().catch_up()
