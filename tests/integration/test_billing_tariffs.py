"""Tariffs, classes and rates through the API: bad input refused whole, rate changes with
their reason, rate-table files, who may see and change what."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from composition.billing import service
from composition.runtime import Runtime
from domain.shared.actor import Actor, CommandContext, Realm
from domain.shared.errors import PermissionDeniedError
from domain.shared.permissions import Access, Section
from tests.integration.billing_helpers import Headers, billed_account, rate, tariff, usage
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create

LogSize = Callable[[], int]


def _tariff_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Tariff",
        "currency": "EUR",
        "precision": 2,
        "rates": [rate("44", "0.60")],
    }
    return {**body, **changes}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_tariff_body(rates=[rate("44", "0.60", first=-1)]), "validation_error"),
        (_tariff_body(rates=[rate("44", "0.60", nxt=0)]), "validation_error"),
        (_tariff_body(precision=7), "validation_error"),
        (_tariff_body(precision=-1), "validation_error"),
        (_tariff_body(rates=[rate("44", 0.6)]), "validation_error"),  # a float, not a string
        (_tariff_body(rates=[rate("44x", "0.60")]), "invalid_value"),
        (_tariff_body(rates=[rate("+44", "0.60")]), "invalid_value"),
        (_tariff_body(currency="XYZ"), "invalid_value"),
        (
            _tariff_body(
                rates=[
                    rate("44", "0.60", effective_to="2026-11-01T00:00:00+00:00"),
                    rate("44", "0.70", effective_from="2026-10-15T00:00:00+00:00"),
                ]
            ),
            "invalid_value",
        ),
        (
            _tariff_body(rates=[rate("44", "0.6", effective_from="2026-10-15T00:00:00")]),
            "validation_error",  # no UTC offset
        ),
        (
            _tariff_body(peak_periods=[{"days": ["mon"], "from": "18:00", "to": "08:00"}]),
            "invalid_value",
        ),
    ],
)
def test_bad_tariffs_are_refused_and_record_nothing(
    client: TestClient, admin: Headers, log_size: LogSize, body: dict[str, Any], code: str
) -> None:
    before = log_size()
    assert_problem(client.post("/v1/tariffs", json=body, headers=admin), 422, code)
    assert log_size() == before


@pytest.mark.parametrize(
    "body",
    [
        {"name": "C", "rounding": "banker", "invoice_precision": 2, "usage_precision": 2},
        {"name": "C", "rounding": "malaysian", "invoice_precision": 7, "usage_precision": 2},
        {"name": "C", "rounding": "malaysian", "invoice_precision": 2, "usage_precision": -1},
    ],
)
def test_bad_customer_classes_are_refused(
    client: TestClient, admin: Headers, log_size: LogSize, body: dict[str, Any]
) -> None:
    before = log_size()
    assert_problem(
        client.post("/v1/customer-classes", json=body, headers=admin), 422, "validation_error"
    )
    assert log_size() == before


def test_a_class_and_a_tariff_are_created_and_read_back(client: TestClient, admin: Headers) -> None:
    made = create(
        client,
        admin,
        "customer-classes",
        name="LT",
        rounding="half_away_from_zero",
        invoice_precision=2,
        usage_precision=4,
    )
    assert (made["rounding"], made["usage_precision"]) == ("half_away_from_zero", 4)
    assert client.get(f"/v1/customer-classes/{made['id']}", headers=admin).json() == made
    peaks = [{"days": ["sat", "sun"], "from": "00:00", "to": "24:00"}]
    priced = tariff(
        client,
        admin,
        [rate("44", "0.60"), rate("4420", "0.10", access_code="incoming")],
        peak_periods=peaks,
    )
    assert priced["rates"] == 2 and priced["peak_periods"] == peaks
    listed = client.get(f"/v1/tariffs/{priced['id']}/rates", headers=admin).json()["items"]
    assert [(r["prefix"], r["access_code"]) for r in listed] == [
        ("44", "outgoing"),
        ("4420", "incoming"),
    ]
    assert listed[0]["price_per_minute"] == "0.60"
    duplicate = client.post("/v1/tariffs", json=_tariff_body(name=priced["name"]), headers=admin)
    assert_problem(duplicate, 409, "duplicate")


def test_a_rate_change_records_its_actor_and_reason_and_rates_new_calls(
    client: TestClient, admin: Headers, log_size: LogSize
) -> None:
    made = tariff(client, admin, [rate("44", "0.60")])
    setup = billed_account(client, admin, made["id"])
    assert usage(client, admin, setup["account"]["id"], "44", 60).json()["amount"] == "0.60"
    before = log_size()
    refused = client.post(
        f"/v1/tariffs/{made['id']}/rates",
        json={
            "rates": [rate("44", "0.50", effective_from="2026-01-01T00:00:00+00:00")],
            "reason": "overlap",
        },
        headers=admin,
    )
    assert_problem(refused, 422, "invalid_value")
    assert log_size() == before
    changed = client.post(
        f"/v1/tariffs/{made['id']}/rates",
        json={"rates": [rate("44", "0.50")], "reason": "price cut, ticket 42"},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["rates"], changed.json()["events"]) == (1, 1)
    assert usage(client, admin, setup["account"]["id"], "44", 60).json()["amount"] == "0.50"
    audit = client.get("/v1/audit", params={"subject": made["id"]}, headers=admin).json()["items"]
    change = next(
        i
        for i in audit
        if i["type"] == "billing.Tariff.RatesChanged"
        and i["changes"]["reason"]["after"] == "price cut, ticket 42"
    )
    assert change["actor"]["realm"] == "admin"


def test_a_rate_table_file_records_its_rates_in_events_of_at_most_1000(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    made = tariff(client, admin, [])
    lines = ["prefix,price_per_minute,first_interval,next_interval,free_seconds"]
    lines += [f"{440000 + n},0.{n % 90 + 10},60,60,0" for n in range(2500)]
    uploaded = client.post(
        f"/v1/tariffs/{made['id']}/rates/uploads",
        files={"file": ("rates.csv", "\n".join(lines).encode(), "text/csv")},
        data={"reason": "new wholesale table"},
        headers=admin,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert (uploaded.json()["rates"], uploaded.json()["events"]) == (2500, 3)
    events = [e.event for e in runtime.source.read(0, 100_000)]
    chunks = [e for e in events if type(e).__name__ == "RatesChanged"]
    assert [len(c.rates) for c in chunks] == [1000, 1000, 500]
    shown = client.get(f"/v1/tariffs/{made['id']}", headers=admin).json()
    assert shown["rates"] == 2500


def test_a_rate_table_with_a_faulty_row_records_nothing(
    client: TestClient, admin: Headers, log_size: LogSize
) -> None:
    made = tariff(client, admin, [])
    before = log_size()
    text = (
        "prefix,price_per_minute,first_interval,next_interval\n"
        "44,0.60,60,60\n4a,0.60,60,60\n33,0.1,-6,6\n"
    )
    refused = client.post(
        f"/v1/tariffs/{made['id']}/rates/uploads",
        files={"file": ("rates.csv", text.encode(), "text/csv")},
        data={"reason": "bad"},
        headers=admin,
    )
    assert_problem(refused, 422, "invalid_rate_table")
    assert "row 3" in refused.json()["detail"] and "row 4" in refused.json()["detail"]
    assert log_size() == before


def test_bad_usage_is_refused_and_records_nothing(
    client: TestClient, admin: Headers, log_size: LogSize
) -> None:
    made = tariff(client, admin, [rate("44", "0.60")])
    account = billed_account(client, admin, made["id"])["account"]["id"]
    before = log_size()
    for fields, code in [
        ({"connect_time": "2026-10-05T10:00:00"}, "validation_error"),  # no offset
        ({"duration_seconds": -1}, "validation_error"),
        ({"cld": "44 20"}, "invalid_value"),
        ({"service": "measured"}, "invalid_value"),  # a measured service needs a quantity
        ({"quantity": "2"}, "invalid_value"),  # a voice call has no quantity
    ]:
        body = {
            "account_id": account,
            "service": "voice",
            "cli": "1",
            "cld": "4420",
            "connect_time": "2026-10-05T10:00:00+00:00",
            "duration_seconds": 60,
            **fields,
        }
        assert_problem(client.post("/v1/usage", json=body, headers=admin), 422, code)
    assert log_size() == before


def test_a_customer_with_billing_read_sees_its_xdrs_and_tariff_and_nothing_of_its_reseller(
    client: TestClient, admin: Headers
) -> None:
    made = tariff(client, admin, [rate("44", "0.60")])
    setup = billed_account(client, admin, made["id"])
    customer_id = setup["customer"]["id"]
    client.patch(
        f"/v1/customers/{customer_id}",
        json={"login": "abc", "password": "abc-password"},
        headers=admin,
    )
    usage(client, admin, setup["account"]["id"], "44", 60)
    other = billed_account(client, admin, made["id"], name="Other")
    usage(client, admin, other["account"]["id"], "44", 60)
    role = create(client, admin, "roles", name="Billing reader", permissions={"billing": "read"})
    client.put(f"/v1/customers/{customer_id}/role", json={"role_id": role["id"]}, headers=admin)
    reader = login(client, "abc", "abc-password")
    seen = client.get("/v1/xdrs", headers=reader).json()["items"]
    assert [x["customer_id"] for x in seen] == [customer_id]
    assert_problem(
        client.get("/v1/xdrs", params={"level": "reseller"}, headers=reader), 403, "forbidden"
    )
    (given,) = client.get("/v1/tariffs", headers=reader).json()["items"]
    assert given["id"] == made["id"]
    assert client.get(f"/v1/tariffs/{made['id']}/rates", headers=reader).status_code == 200
    unrelated = tariff(client, admin, [rate("33", "0.10")], name="Not theirs")
    assert_problem(client.get(f"/v1/tariffs/{unrelated['id']}", headers=reader), 404, "not_found")
    assert_problem(client.get("/v1/customer-classes", headers=reader), 403, "forbidden")
    refused = client.patch(
        f"/v1/customers/{customer_id}", json={"customer_class_id": None}, headers=reader
    )
    assert refused.status_code == 403


def test_a_customer_whose_role_restricts_billing_cannot_list_xdrs(
    client: TestClient, admin: Headers
) -> None:
    customer = create(
        client,
        admin,
        "customers",
        name="R",
        currency="EUR",
        time_zone="UTC",
        login="r",
        password="r-password",
    )
    role = create(client, admin, "roles", name="No billing", permissions={"billing": "restrict"})
    client.put(f"/v1/customers/{customer['id']}/role", json={"role_id": role["id"]}, headers=admin)
    refused = client.get("/v1/xdrs", headers=login(client, "r", "r-password"))
    assert_problem(refused, 403, "permission_denied")
    assert "billing" in refused.json()["detail"]


def test_a_role_reading_billing_may_not_change_a_class_at_the_service(
    client: TestClient, admin: Headers, runtime: Runtime, log_size: LogSize
) -> None:
    customer = create(client, admin, "customers", name="S", currency="EUR", time_zone="UTC")
    reader = CommandContext(
        Actor(customer["id"], Realm.CUSTOMER, "customer"),
        permissions={Section.BILLING: Access.READ},
    )
    before = log_size()
    with pytest.raises(PermissionDeniedError):
        service(runtime).set_customer_class(reader, UUID(customer["id"]), None)
    assert log_size() == before


def test_only_admins_create_tariffs_and_classes(client: TestClient, admin: Headers) -> None:
    create(client, admin, "resellers", name="Res", login="res", password="res-password")
    reseller = login(client, "res", "res-password")
    assert_problem(
        client.post("/v1/tariffs", json=_tariff_body(), headers=reseller), 403, "forbidden"
    )
    body = {"name": "C", "rounding": "malaysian", "invoice_precision": 2, "usage_precision": 2}
    assert_problem(
        client.post("/v1/customer-classes", json=body, headers=reseller), 403, "forbidden"
    )
    assert client.get("/v1/tariffs", headers=reseller).status_code == 200


def test_a_50k_prefix_rate_table_uploads_in_50_events_and_rates_calls(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    made = tariff(client, admin, [])
    lines = ["prefix,price_per_minute,first_interval,next_interval"]
    lines += [f"{100000 + n},0.{n % 90 + 10},30,6" for n in range(50_000)]
    uploaded = client.post(
        f"/v1/tariffs/{made['id']}/rates/uploads",
        files={"file": ("rates.csv", "\n".join(lines).encode(), "text/csv")},
        data={"reason": "50k prefixes"},
        headers=admin,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert (uploaded.json()["rates"], uploaded.json()["events"]) == (50_000, 50)
    setup = billed_account(client, admin, made["id"])
    xdr = usage(client, admin, setup["account"]["id"], "14999912345", 95).json()
    assert (xdr["rate_prefix"], xdr["charged_seconds"]) == ("149999", 96)
