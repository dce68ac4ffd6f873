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
) -> dict[str, Any]:
    """A customer (with its class) and an account whose main product has the tariff."""
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
