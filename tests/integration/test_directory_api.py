"""The directory through HTTP: create, edit, close, list, and who may see what."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from composition.runtime import Runtime
from domain.shared.actor import CommandContext
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, eventually
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create


def test_admin_creates_edits_and_closes_customer_under_reseller(
    client: TestClient, admin: dict[str, str]
) -> None:
    reseller = create(client, admin, "resellers", name="Telco Resale")
    customer = create(
        client,
        admin,
        "customers",
        name="Acme",
        currency="eur",
        time_zone="Europe/Paris",
        reseller_id=reseller["id"],
    )
    assert customer["currency"] == "EUR"
    assert customer["reseller_id"] == reseller["id"]
    assert customer["version"] == 1

    edited = client.patch(
        f"/v1/customers/{customer['id']}", json={"time_zone": "America/New_York"}, headers=admin
    )
    assert edited.status_code == 200
    assert edited.json()["time_zone"] == "America/New_York"
    assert edited.headers["ETag"] == '"2"'

    closed = client.post(f"/v1/customers/{customer['id']}/close", headers=admin)
    assert closed.json()["status"] == "closed"
    again = client.patch(f"/v1/customers/{customer['id']}", json={"name": "X"}, headers=admin)
    assert_problem(again, 409, "closed")
    assert client.get(f"/v1/customers/{customer['id']}", headers=admin).json()["name"] == "Acme"


def test_customer_created_directly_has_no_reseller(
    client: TestClient, admin: dict[str, str]
) -> None:
    customer = create(client, admin, "customers", name="Direct", currency="USD", time_zone="UTC")
    assert customer["reseller_id"] is None


def test_accounts_belong_to_a_customer_and_list_by_customer(
    client: TestClient, admin: dict[str, str]
) -> None:
    one = create(client, admin, "customers", name="One", currency="USD", time_zone="UTC")
    two = create(client, admin, "customers", name="Two", currency="USD", time_zone="UTC")
    create(client, admin, "accounts", customer_id=one["id"], login="desk-1-100")
    create(client, admin, "accounts", customer_id=one["id"], login="desk-1-101")
    create(client, admin, "accounts", customer_id=two["id"], login="desk-2-100")
    listed = client.get("/v1/accounts", params={"customer_id": one["id"]}, headers=admin).json()
    assert sorted(a["login"] for a in listed["items"]) == ["desk-1-100", "desk-1-101"]


def test_lists_filter_and_paginate(client: TestClient, admin: dict[str, str]) -> None:
    for i in range(5):
        create(client, admin, "customers", name=f"C{i}", currency="GBP", time_zone="Europe/London")
    first = client.get("/v1/customers", params={"limit": 2}, headers=admin).json()
    assert [c["name"] for c in first["items"]] == ["C0", "C1"]
    assert first["next"] == 2
    rest = client.get("/v1/customers", params={"limit": 10, "offset": 2}, headers=admin).json()
    assert [c["name"] for c in rest["items"]] == ["C2", "C3", "C4"]
    assert rest["next"] is None
    by_name = client.get("/v1/customers", params={"name": "C3"}, headers=admin).json()
    assert [c["name"] for c in by_name["items"]] == ["C3"]


def test_names_and_logins_are_unique_and_renaming_frees_the_old_name(
    client: TestClient, admin: dict[str, str]
) -> None:
    first = create(client, admin, "customers", name="Acme", currency="EUR", time_zone="UTC")
    duplicate = client.post(
        "/v1/customers", json={"name": "ACME", "currency": "EUR", "time_zone": "UTC"}, headers=admin
    )
    assert_problem(duplicate, 409, "duplicate")
    client.patch(f"/v1/customers/{first['id']}", json={"name": "Acme Corp"}, headers=admin)
    reused = create(client, admin, "customers", name="Acme", currency="EUR", time_zone="UTC")
    assert reused["id"] != first["id"]
    create(client, admin, "accounts", customer_id=first["id"], login="desk-9")
    taken = client.post(
        "/v1/resellers",
        json={"name": "R", "login": "desk-9", "password": "password-1"},
        headers=admin,
    )
    assert_problem(taken, 409, "duplicate")


def test_stale_if_match_gets_412_precondition_failed_and_keeps_the_first_edit(
    client: TestClient, admin: dict[str, str]
) -> None:
    customer = create(client, admin, "customers", name="Acme", currency="EUR", time_zone="UTC")
    url = f"/v1/customers/{customer['id']}"
    first = client.patch(url, json={"name": "First"}, headers={**admin, "If-Match": '"1"'})
    second = client.patch(url, json={"name": "Second"}, headers={**admin, "If-Match": '"1"'})
    assert first.status_code == 200
    assert_problem(second, 412, "precondition_failed")
    assert client.get(url, headers=admin).json()["name"] == "First"


def test_a_write_that_loses_a_race_without_if_match_is_409_conflict(
    client: TestClient, admin: dict[str, str], runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = create(client, admin, "customers", name="Acme", currency="EUR", time_zone="UTC")
    rival = CommandContext(runtime.directory.authenticate(ADMIN_LOGIN, ADMIN_PASSWORD))
    save = runtime.directory.save

    def save_after_a_rival(*aggregates: Any, **kwargs: Any) -> Any:
        # Another request's edit lands between this one's read and its write.
        monkeypatch.setattr(runtime.directory, "save", save)
        edit = threading.Thread(
            target=runtime.directory.update_customer,
            args=(rival, UUID(customer["id"]), None),
            kwargs={"time_zone": "Europe/Paris"},
        )
        edit.start()
        edit.join()
        return save(*aggregates, **kwargs)

    monkeypatch.setattr(runtime.directory, "save", save_after_a_rival)
    url = f"/v1/customers/{customer['id']}"
    assert_problem(client.patch(url, json={"name": "Mine"}, headers=admin), 409, "conflict")
    # The rival's edit was not made through the API, so nothing waited for its projection.
    eventually(lambda: client.get(url, headers=admin).json()["time_zone"] == "Europe/Paris")
    assert client.get(url, headers=admin).json()["name"] == "Acme"


def test_reseller_sees_and_manages_only_its_own_customers(
    client: TestClient, admin: dict[str, str]
) -> None:
    mine = create(client, admin, "resellers", name="Mine", login="mine", password="password-1")
    other = create(client, admin, "resellers", name="Other")
    theirs = create(
        client,
        admin,
        "customers",
        name="Theirs",
        currency="EUR",
        time_zone="UTC",
        reseller_id=other["id"],
    )
    reseller = login(client, "mine", "password-1")
    own = create(client, reseller, "customers", name="Own", currency="EUR", time_zone="UTC")
    assert own["reseller_id"] == mine["id"]

    listed = client.get("/v1/customers", headers=reseller).json()["items"]
    assert [c["name"] for c in listed] == ["Own"]
    assert_problem(client.get(f"/v1/customers/{theirs['id']}", headers=reseller), 404, "not_found")
    edit = client.patch(
        f"/v1/customers/{theirs['id']}", json={"name": "Mine now"}, headers=reseller
    )
    assert_problem(edit, 404, "not_found")
    assert_problem(client.get(f"/v1/resellers/{other['id']}", headers=reseller), 404, "not_found")
    steal = client.post(
        "/v1/customers",
        json={"name": "Stolen", "currency": "EUR", "time_zone": "UTC", "reseller_id": other["id"]},
        headers=reseller,
    )
    assert_problem(steal, 404, "not_found")
    assert_problem(
        client.post("/v1/resellers", json={"name": "Sub"}, headers=reseller), 403, "forbidden"
    )


def test_customer_sees_only_itself_and_its_accounts(
    client: TestClient, admin: dict[str, str]
) -> None:
    me = create(
        client,
        admin,
        "customers",
        name="Me",
        currency="EUR",
        time_zone="UTC",
        login="me",
        password="password-1",
    )
    other = create(client, admin, "customers", name="Other", currency="EUR", time_zone="UTC")
    other_account = create(client, admin, "accounts", customer_id=other["id"], login="other1")
    customer = login(client, "me", "password-1")
    account = create(client, customer, "accounts", customer_id=me["id"], login="me1")

    assert [c["id"] for c in client.get("/v1/customers", headers=customer).json()["items"]] == [
        me["id"]
    ]
    assert [a["id"] for a in client.get("/v1/accounts", headers=customer).json()["items"]] == [
        account["id"]
    ]
    assert_problem(client.get(f"/v1/customers/{other['id']}", headers=customer), 404, "not_found")
    assert_problem(
        client.get(f"/v1/accounts/{other_account['id']}", headers=customer), 404, "not_found"
    )
    foreign = client.post(
        "/v1/accounts", json={"customer_id": other["id"], "login": "sneaky"}, headers=customer
    )
    assert_problem(foreign, 404, "not_found")
