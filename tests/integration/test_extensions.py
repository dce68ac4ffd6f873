"""Products, agreements, extensions and auto attendants through the HTTP API (seed 002,
"Enable customers to add extensions and assign subscriptions via the API")."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create

Headers = dict[str, str]


def customer(client: TestClient, admin: Headers, name: str, **extra: Any) -> dict[str, Any]:
    return create(client, admin, "customers", name=name, currency="USD", time_zone="UTC", **extra)


def product(client: TestClient, admin: Headers, name: str, kind: str) -> str:
    return str(create(client, admin, "products", name=name, kind=kind)["id"])


def agree(client: TestClient, admin: Headers, customer_id: str, **quantities: int) -> Any:
    items = [{"product_id": p, "quantity": q} for p, q in quantities.items()]
    answer = client.put(
        f"/v1/customers/{customer_id}/agreement", json={"products": items}, headers=admin
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def extension(
    client: TestClient, headers: Headers, customer_id: str, number: str, *products: str
) -> Any:
    return client.post(
        f"/v1/customers/{customer_id}/extensions",
        json={"extension": number, "products": list(products)},
        headers=headers,
    )


def test_the_seeds_worked_example_abc_gets_ph46170aa1_and_ph46170x466(
    client: TestClient, admin: Headers
) -> None:
    abc = customer(client, admin, "ABC", number=46170, login="abc", password="abc-password")
    assert abc["number"] == 46170
    attendant = product(client, admin, "Auto attendant", "main")
    pbx = product(client, admin, "Hosted IP PBX service", "main")
    recording = product(client, admin, "Call recording", "add_on")
    agreed = agree(client, admin, abc["id"], **{attendant: 1, pbx: 0, recording: 300})
    assert {p["name"]: p["quantity"] for p in agreed["products"]} == {
        "Auto attendant": 1,
        "Hosted IP PBX service": 0,
        "Call recording": 300,
    }
    pbx_admin = login(client, "abc", "abc-password")
    base = f"/v1/customers/{abc['id']}"

    made = client.post(f"{base}/auto-attendants", json={"products": [attendant]}, headers=pbx_admin)
    assert made.status_code == 201, made.text
    assert made.json()["account_login"] == "ph46170aa1"
    aa = made.json()["id"]
    aliased = client.post(
        f"{base}/auto-attendants/{aa}/dids", json={"did": "12094555948"}, headers=pbx_admin
    )
    assert aliased.status_code == 200, aliased.text
    assert aliased.json()["dids"] == ["12094555948"]

    john = extension(client, pbx_admin, abc["id"], "466", pbx, recording)
    assert john.status_code == 201, john.text
    body = john.json()
    assert body["account_login"] == "ph46170x466"
    assert body["product_id"] == pbx and sorted(body["products"]) == sorted([pbx, recording])
    assert len(body["sip_password"]) >= 16
    # The password is shown once; the extension's account logs in with it.
    shown = client.get(f"{base}/extensions/{body['id']}", headers=pbx_admin).json()
    assert "sip_password" not in shown and shown["account_login"] == "ph46170x466"
    login(client, "ph46170x466", body["sip_password"])
    account = client.get(f"/v1/accounts/{body['account_id']}", headers=admin).json()
    assert account["login"] == "ph46170x466" and account["product_id"] == pbx

    used = client.get(f"{base}/agreement", headers=pbx_admin).json()["products"]
    assert {p["name"]: p["used"] for p in used} == {
        "Auto attendant": 1,
        "Hosted IP PBX service": 1,
        "Call recording": 1,
    }
    listed = client.get(f"{base}/extensions", headers=pbx_admin).json()["items"]
    assert [e["account_login"] for e in listed] == ["ph46170x466"]


def test_a_product_beyond_its_quantity_is_refused_with_the_limit_in_the_message(
    client: TestClient, admin: Headers, log_size: Any
) -> None:
    abc = customer(client, admin, "ABC")
    attendant = product(client, admin, "Auto attendant", "main")
    agree(client, admin, abc["id"], **{attendant: 1})
    assert extension(client, admin, abc["id"], "100", attendant).status_code == 201
    before = log_size()
    refused = extension(client, admin, abc["id"], "101", attendant)
    assert_problem(refused, 409, "quota_exceeded")
    assert "on 1 account(s)" in refused.json()["detail"]
    assert log_size() == before  # no account, no extension: nothing half-applied
    listed = client.get("/v1/accounts", params={"customer_id": abc["id"]}, headers=admin)
    assert len(listed.json()["items"]) == 1


def test_products_outside_the_agreement_or_two_main_ones_are_refused(
    client: TestClient, admin: Headers
) -> None:
    abc = customer(client, admin, "ABC")
    pbx = product(client, admin, "PBX", "main")
    other = product(client, admin, "Other main", "main")
    outside = product(client, admin, "Not agreed", "add_on")
    assert_problem(extension(client, admin, abc["id"], "1", pbx), 422, "invalid_value")
    agree(client, admin, abc["id"], **{pbx: 0, other: 0})
    assert_problem(extension(client, admin, abc["id"], "1", outside), 422, "invalid_value")
    two = extension(client, admin, abc["id"], "1", pbx, other)
    assert_problem(two, 422, "invalid_value")
    assert "at most one main product" in two.json()["detail"]
    assert_problem(extension(client, admin, abc["id"], "4a6"), 422, "invalid_value")
    assert extension(client, admin, abc["id"], "1").status_code == 201  # no products: fine
    assert_problem(extension(client, admin, abc["id"], "1"), 409, "duplicate")


def test_auto_attendants_are_numbered_without_reuse(client: TestClient, admin: Headers) -> None:
    abc = customer(client, admin, "ABC", number=46170)
    url = f"/v1/customers/{abc['id']}/auto-attendants"
    first = client.post(url, json={}, headers=admin).json()
    second = client.post(url, json={}, headers=admin).json()
    assert [first["account_login"], second["account_login"]] == ["ph46170aa1", "ph46170aa2"]
    assert client.delete(f"{url}/{second['id']}", headers=admin).status_code == 204
    third = client.post(url, json={}, headers=admin).json()
    assert third["account_login"] == "ph46170aa3"
    listed = client.get(url, headers=admin).json()["items"]
    assert [a["number"] for a in listed] == [1, 3]
    gone = client.get(f"/v1/accounts/{second['account_id']}", headers=admin).json()
    assert gone["status"] == "closed"


def test_generated_logins_are_refused_for_accounts_made_any_other_way(
    client: TestClient, admin: Headers
) -> None:
    abc = customer(client, admin, "ABC", number=46170)
    for login_ in ("ph46170x466", "PH1aa2"):
        refused = client.post(
            "/v1/accounts", json={"customer_id": abc["id"], "login": login_}, headers=admin
        )
        assert_problem(refused, 422, "invalid_value")
    assert_problem(
        client.post("/v1/resellers", json={"name": "R", "login": "ph1x1"}, headers=admin),
        422,
        "invalid_value",
    )
    plain = create(client, admin, "accounts", customer_id=abc["id"], login="desk-phone")
    renamed = client.patch(
        f"/v1/accounts/{plain['id']}", json={"login": "ph46170x1"}, headers=admin
    )
    assert_problem(renamed, 422, "invalid_value")
    made = extension(client, admin, abc["id"], "466").json()
    account = f"/v1/accounts/{made['account_id']}"
    assert_problem(
        client.patch(account, json={"login": "bob"}, headers=admin), 422, "invalid_value"
    )
    assert_problem(client.post(f"{account}/close", headers=admin), 422, "invalid_value")


def test_renaming_an_extension_renames_its_account_and_frees_the_old_number(
    client: TestClient, admin: Headers
) -> None:
    abc = customer(client, admin, "ABC", number=46170)
    made = extension(client, admin, abc["id"], "466").json()
    url = f"/v1/customers/{abc['id']}/extensions/{made['id']}"
    renamed = client.patch(url, json={"extension": "467"}, headers=admin)
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["extension"], renamed.json()["account_login"]) == ("467", "ph46170x467")
    account = client.get(f"/v1/accounts/{made['account_id']}", headers=admin).json()
    assert account["login"] == "ph46170x467"
    assert extension(client, admin, abc["id"], "466").status_code == 201
    taken = client.patch(url, json={"extension": "466"}, headers=admin)
    assert_problem(taken, 409, "duplicate")


def test_deleting_an_extension_frees_its_products_dids_and_number(
    client: TestClient, admin: Headers
) -> None:
    abc = customer(client, admin, "ABC", number=46170)
    pbx = product(client, admin, "PBX", "main")
    agree(client, admin, abc["id"], **{pbx: 1})
    made = extension(client, admin, abc["id"], "466", pbx).json()
    base = f"/v1/customers/{abc['id']}/extensions"
    client.post(f"{base}/{made['id']}/dids", json={"did": "+12094555948"}, headers=admin)
    assert client.delete(f"{base}/{made['id']}", headers=admin).status_code == 204
    assert_problem(client.get(f"{base}/{made['id']}", headers=admin), 404, "not_found")
    again = extension(client, admin, abc["id"], "466", pbx)
    assert again.status_code == 201, again.text
    assert again.json()["account_id"] != made["account_id"]
    aliased = client.post(
        f"{base}/{again.json()['id']}/dids", json={"did": "12094555948"}, headers=admin
    )
    assert aliased.status_code == 200, aliased.text
    closed = client.get(f"/v1/accounts/{made['account_id']}", headers=admin).json()
    assert closed["status"] == "closed" and closed["products"] == []


def test_a_did_is_an_alias_of_one_account_in_the_whole_system(
    client: TestClient, admin: Headers
) -> None:
    abc, xyz = customer(client, admin, "ABC"), customer(client, admin, "XYZ")
    one = extension(client, admin, abc["id"], "1").json()
    two = extension(client, admin, xyz["id"], "1").json()
    first = f"/v1/customers/{abc['id']}/extensions/{one['id']}/dids"
    second = f"/v1/customers/{xyz['id']}/extensions/{two['id']}/dids"
    assert client.post(first, json={"did": "442071234567"}, headers=admin).status_code == 200
    assert_problem(
        client.post(second, json={"did": "+442071234567"}, headers=admin), 409, "duplicate"
    )
    assert_problem(client.post(second, json={"did": "12ab"}, headers=admin), 422, "invalid_value")
    removed = client.delete(f"{first}/442071234567", headers=admin)
    assert removed.status_code == 200 and removed.json()["dids"] == []
    assert client.post(second, json={"did": "442071234567"}, headers=admin).status_code == 200


def test_patching_an_account_product_id_sets_its_main_product(
    client: TestClient, admin: Headers
) -> None:
    abc = customer(client, admin, "ABC")
    pbx, basic = product(client, admin, "PBX", "main"), product(client, admin, "Basic", "main")
    recording = product(client, admin, "Recording", "add_on")
    agree(client, admin, abc["id"], **{pbx: 0, basic: 1, recording: 0})
    made = extension(client, admin, abc["id"], "466", pbx, recording).json()
    url = f"/v1/accounts/{made['account_id']}"
    changed = client.patch(url, json={"product_id": basic}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["product_id"] == basic
    assert sorted(changed.json()["products"]) == sorted([basic, recording])
    plain = create(client, admin, "accounts", customer_id=abc["id"], login="desk")
    over = client.patch(f"/v1/accounts/{plain['id']}", json={"product_id": basic}, headers=admin)
    assert_problem(over, 409, "quota_exceeded")
    add_on = client.patch(url, json={"product_id": recording}, headers=admin)
    assert_problem(add_on, 422, "invalid_value")
    cleared = client.patch(url, json={"product_id": None}, headers=admin)
    assert cleared.json()["product_id"] is None and cleared.json()["products"] == [recording]


def test_products_are_created_by_admins_and_named_once(client: TestClient, admin: Headers) -> None:
    create(client, admin, "resellers", name="R", login="r", password="password-1")
    reseller = login(client, "r", "password-1")
    body = {"name": "PBX", "kind": "main"}
    assert_problem(client.post("/v1/products", json=body, headers=reseller), 403, "forbidden")
    made = create(client, admin, "products", **body)
    assert_problem(client.post("/v1/products", json=body, headers=admin), 409, "duplicate")
    odd = client.post("/v1/products", json={"name": "X", "kind": "other"}, headers=admin)
    assert odd.status_code == 422
    assert client.get(f"/v1/products/{made['id']}", headers=reseller).json()["kind"] == "main"
    assert [p["name"] for p in client.get("/v1/products", headers=admin).json()["items"]] == ["PBX"]


def test_another_customers_extensions_are_invisible(client: TestClient, admin: Headers) -> None:
    abc = customer(client, admin, "ABC", login="abc", password="abc-password")
    xyz = customer(client, admin, "XYZ", login="xyz", password="xyz-password")
    theirs = extension(client, admin, xyz["id"], "1").json()
    abc_login = login(client, "abc", "abc-password")
    base = f"/v1/customers/{xyz['id']}/extensions"
    assert_problem(client.get(base, headers=abc_login), 404, "not_found")
    assert_problem(extension(client, abc_login, xyz["id"], "2"), 404, "not_found")
    assert_problem(client.delete(f"{base}/{theirs['id']}", headers=abc_login), 404, "not_found")
    mine = f"/v1/customers/{abc['id']}/extensions/{theirs['id']}"
    assert_problem(client.get(mine, headers=abc_login), 404, "not_found")
    assert_problem(
        client.put(
            f"/v1/customers/{abc['id']}/agreement", json={"products": []}, headers=abc_login
        ),
        403,
        "forbidden",
    )
