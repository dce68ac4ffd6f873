"""A context contributes a field to another's resource: provisioning's number on customers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create


def _customer(client: TestClient, headers: dict[str, str], name: str) -> dict[str, object]:
    return create(client, headers, "customers", name=name, currency="EUR", time_zone="UTC")


def test_a_customer_shows_and_takes_the_number_provisioning_contributes(
    client: TestClient, admin: dict[str, str]
) -> None:
    customer = _customer(client, admin, "Numbered")
    assert customer["number"] is None
    url = f"/v1/customers/{customer['id']}"

    changed = client.patch(url, json={"number": "+44 2071234567".replace(" ", "")}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["number"] == "442071234567"
    assert changed.json()["version"] == customer["version"]  # the directory's row is unchanged
    assert client.get(url, headers=admin).json()["number"] == "442071234567"
    listed = client.get("/v1/customers", params={"name": "Numbered"}, headers=admin).json()
    assert [c["number"] for c in listed["items"]] == ["442071234567"]

    both = client.patch(url, json={"name": "Renumbered", "number": "442071234568"}, headers=admin)
    assert both.json()["name"] == "Renumbered" and both.json()["number"] == "442071234568"
    cleared = client.patch(url, json={"number": None}, headers=admin)
    assert cleared.json()["number"] is None

    # Its events are provisioning's own, owned by the customer like the directory's.
    items = client.get("/v1/audit", params={"subject": customer["id"]}, headers=admin).json()
    assert "directory.Customer.Renamed" in {i["type"] for i in items["items"]}
    numbers = client.get(
        "/v1/audit", params={"type": "provisioning.CustomerNumber.Reassigned"}, headers=admin
    ).json()["items"]
    assert [i["changes"]["number"]["after"] for i in numbers] == [None, "442071234568"]


def test_a_number_is_checked_and_held_by_one_customer_at_a_time(
    client: TestClient, admin: dict[str, str]
) -> None:
    first, second = _customer(client, admin, "First"), _customer(client, admin, "Second")
    taken = client.patch(
        f"/v1/customers/{first['id']}", json={"number": "33123456789"}, headers=admin
    )
    assert taken.status_code == 200
    clash = client.patch(
        f"/v1/customers/{second['id']}", json={"number": "33123456789"}, headers=admin
    )
    assert_problem(clash, 409, "duplicate")
    assert_problem(
        client.patch(f"/v1/customers/{second['id']}", json={"number": "12ab"}, headers=admin),
        422,
        "invalid_value",
    )
    assert client.get(f"/v1/customers/{second['id']}", headers=admin).json()["number"] is None


def test_only_who_may_see_the_customer_sets_its_number(
    client: TestClient, admin: dict[str, str]
) -> None:
    create(client, admin, "resellers", name="R", login="r", password="password-1")
    reseller = login(client, "r", "password-1")
    own = _customer(client, reseller, "Own")
    other = _customer(client, admin, "Other")
    mine = client.patch(
        f"/v1/customers/{own['id']}", json={"number": "4930123456"}, headers=reseller
    )
    assert mine.status_code == 200 and mine.json()["number"] == "4930123456"
    assert_problem(
        client.patch(
            f"/v1/customers/{other['id']}", json={"number": "4930123457"}, headers=reseller
        ),
        404,
        "not_found",
    )
    # The reseller follows its customers' provisioning events too.
    seen = client.get(
        "/v1/audit", params={"type": "provisioning.CustomerNumber.Assigned"}, headers=reseller
    ).json()["items"]
    assert [i["changes"]["number"]["after"] for i in seen] == ["4930123456"]


def test_the_openapi_document_shows_the_contributed_field(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "number" in schemas["CustomerPublic"]["properties"]
    assert "number" in schemas["CustomerUpdate"]["properties"]


def test_a_closed_customer_takes_no_number(client: TestClient, admin: dict[str, str]) -> None:
    customer = _customer(client, admin, "Closing")
    url = f"/v1/customers/{customer['id']}"
    assert client.post(f"{url}/close", headers=admin).status_code == 200
    assert_problem(client.patch(url, json={"number": "4930999999"}, headers=admin), 409, "closed")


def test_an_edit_of_own_and_contributed_fields_applies_whole_or_not_at_all(
    client: TestClient, admin: dict[str, str]
) -> None:
    holder, other = _customer(client, admin, "Holder"), _customer(client, admin, "Other One")
    client.patch(f"/v1/customers/{holder['id']}", json={"number": "4412345678"}, headers=admin)
    url = f"/v1/customers/{other['id']}"
    clash = client.patch(url, json={"name": "Renamed", "number": "4412345678"}, headers=admin)
    assert_problem(clash, 409, "duplicate")
    bad = client.patch(url, json={"time_zone": "Europe/Rome", "number": "x"}, headers=admin)
    assert_problem(bad, 422, "invalid_value")
    unchanged = client.get(url, headers=admin).json()
    assert (unchanged["name"], unchanged["time_zone"]) == ("Other One", "UTC")
    assert unchanged["version"] == other["version"]
    audit = client.get("/v1/audit", params={"subject": other["id"]}, headers=admin).json()
    assert [i["type"] for i in audit["items"]] == ["directory.Customer.Created"]
