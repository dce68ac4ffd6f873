"""Self-care roles: defined by admins, allowed per customer, held by customers and
accounts; one token for every realm; a refused section is 403 permission_denied."""

from __future__ import annotations

from typing import Any

import jwt
from fastapi.testclient import TestClient

from domain.shared.actor import Actor, CommandContext, Realm
from domain.shared.permissions import REALM_DEFAULT, Access, Section
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create

H = dict[str, str]


def _role(client: TestClient, admin: H, name: str, **permissions: str) -> dict[str, Any]:
    return create(client, admin, "roles", name=name, permissions=permissions)


def _customer(client: TestClient, admin: H, name: str = "ABC", **extra: Any) -> dict[str, Any]:
    return create(client, admin, "customers", name=name, currency="USD", time_zone="UTC", **extra)


def _claims(headers: H) -> dict[str, Any]:
    token = headers["Authorization"].split()[1]
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def test_an_admin_defines_a_role_and_a_section_left_out_is_restrict(
    client: TestClient, admin: H
) -> None:
    role = _role(client, admin, "PBX admin", extensions="modify", phones="modify")
    assert role["permissions"] == {
        "individuals": "restrict",
        "extensions": "modify",
        "phones": "modify",
        "call_control": "restrict",
        "billing": "restrict",
        "allowed_roles": "restrict",
    }
    assert client.get(f"/v1/roles/{role['id']}", headers=admin).json() == role
    listed = client.get("/v1/roles", headers=admin).json()["items"]
    assert [r["name"] for r in listed] == ["PBX admin"]


def test_allowed_roles_takes_only_read_or_restrict(client: TestClient, admin: H, log_size) -> None:  # type: ignore[no-untyped-def]
    before = log_size()
    refused = client.post(
        "/v1/roles", json={"name": "Bad", "permissions": {"allowed_roles": "modify"}}, headers=admin
    )
    assert_problem(refused, 422, "invalid_value")
    assert "allowed_roles" in refused.json()["detail"]
    unknown = client.post(
        "/v1/roles", json={"name": "Bad", "permissions": {"payroll": "read"}}, headers=admin
    )
    assert_problem(unknown, 422, "validation_error")
    wrong_level = client.post(
        "/v1/roles", json={"name": "Bad", "permissions": {"billing": "write"}}, headers=admin
    )
    assert_problem(wrong_level, 422, "validation_error")
    assert log_size() == before


def test_role_names_are_unique(client: TestClient, admin: H) -> None:
    _role(client, admin, "Operations manager", billing="modify")
    again = client.post("/v1/roles", json={"name": "operations manager"}, headers=admin)
    assert_problem(again, 409, "duplicate")


def test_only_admins_define_roles(client: TestClient, admin: H) -> None:
    _customer(client, admin, login="abc", password="password-1")
    customer = login(client, "abc", "password-1")
    refused = client.post("/v1/roles", json={"name": "Mine"}, headers=customer)
    assert_problem(refused, 403, "forbidden")
    assert_problem(client.get("/v1/roles", headers=customer), 403, "forbidden")


def test_a_changed_role_changes_its_holders_at_once(client: TestClient, admin: H) -> None:
    role = _role(client, admin, "Viewer", allowed_roles="read")
    customer = _customer(client, admin, login="abc", password="password-1")
    assert client.put(
        f"/v1/customers/{customer['id']}/role", json={"role_id": role["id"]}, headers=admin
    ).json() == {"role_id": role["id"], "permissions": role["permissions"]}
    own = login(client, "abc", "password-1")
    allowed = f"/v1/customers/{customer['id']}/allowed-roles"
    assert client.get(allowed, headers=own).status_code == 200
    changed = client.patch(
        f"/v1/roles/{role['id']}", json={"permissions": {"billing": "read"}}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["permissions"]["allowed_roles"] == "restrict"
    refused = client.get(allowed, headers=own)
    assert_problem(refused, 403, "permission_denied")
    assert "allowed_roles" in refused.json()["detail"]


def test_allowed_roles_are_set_by_an_admin_and_read_by_the_customer(
    client: TestClient, admin: H
) -> None:
    pbx = _role(client, admin, "PBX admin", extensions="modify")
    ops = _role(client, admin, "Operations manager", billing="modify")
    _role(client, admin, "Not for ABC")
    customer = _customer(client, admin, login="abc", password="password-1")
    url = f"/v1/customers/{customer['id']}/allowed-roles"
    put = client.put(url, json={"role_ids": [pbx["id"], ops["id"]]}, headers=admin)
    assert put.status_code == 200, put.text
    assert sorted(put.json()["role_ids"]) == sorted([pbx["id"], ops["id"]])
    own = login(client, "abc", "password-1")  # the realm default reads allowed roles
    shown = client.get(url, headers=own).json()
    assert sorted(r["name"] for r in shown["roles"]) == ["Operations manager", "PBX admin"]
    assert client.get(f"/v1/roles/{pbx['id']}", headers=own).status_code == 200
    other = client.get("/v1/roles", headers=admin).json()["items"]
    not_for_abc = next(r for r in other if r["name"] == "Not for ABC")
    assert_problem(client.get(f"/v1/roles/{not_for_abc['id']}", headers=own), 404, "not_found")
    refused = client.put(url, json={"role_ids": []}, headers=own)
    assert_problem(refused, 403, "forbidden")
    unknown = client.put(url, json={"role_ids": [customer["id"]]}, headers=admin)
    assert_problem(unknown, 422, "invalid_value")


def test_every_realm_gets_one_token_with_the_same_claims(client: TestClient, admin: H) -> None:
    reseller = create(client, admin, "resellers", name="R", login="r", password="password-1")
    customer = _customer(
        client, admin, reseller_id=reseller["id"], login="abc", password="password-1"
    )
    account = create(
        client, admin, "accounts", customer_id=customer["id"], login="desk-1", password="password-1"
    )
    role = _role(client, admin, "Switchboard", call_control="modify")
    client.put(f"/v1/accounts/{account['id']}/role", json={"role_id": role["id"]}, headers=admin)
    names = {"sub", "realm", "login", "customer_id", "reseller_id", "individual_id", "role_id"}
    for headers in (admin, login(client, "r", "password-1")):
        assert names <= _claims(headers).keys()
    c = _claims(login(client, "abc", "password-1"))
    assert (c["sub"], c["realm"], c["customer_id"], c["reseller_id"], c["role_id"]) == (
        customer["id"],
        "customer",
        customer["id"],
        reseller["id"],
        None,
    )
    a = _claims(login(client, "desk-1", "password-1"))
    assert (a["sub"], a["realm"], a["customer_id"], a["reseller_id"], a["role_id"]) == (
        account["id"],
        "account",
        customer["id"],
        reseller["id"],
        role["id"],
    )
    r = _claims(login(client, "r", "password-1"))
    assert (r["realm"], r["reseller_id"], r["customer_id"]) == ("reseller", reseller["id"], None)


def test_customers_and_accounts_default_to_everything_but_call_control(
    client: TestClient, admin: H
) -> None:
    customer = _customer(client, admin)
    account = create(client, admin, "accounts", customer_id=customer["id"], login="desk-2")
    default = {s.value: a.value for s, a in REALM_DEFAULT.items()}
    assert default["call_control"] == "restrict"
    for url in (f"/v1/customers/{customer['id']}/role", f"/v1/accounts/{account['id']}/role"):
        assert client.get(url, headers=admin).json() == {"role_id": None, "permissions": default}
    role = _role(client, admin, "Call control", call_control="modify", extensions="read")
    changed = client.put(
        f"/v1/accounts/{account['id']}/role", json={"role_id": role["id"]}, headers=admin
    )
    assert changed.json()["permissions"]["call_control"] == "modify"
    back = client.put(f"/v1/accounts/{account['id']}/role", json={"role_id": None}, headers=admin)
    assert back.json() == {"role_id": None, "permissions": default}


def test_only_admins_change_a_customers_own_role(client: TestClient, admin: H) -> None:
    role = _role(client, admin, "Everything", individuals="modify", call_control="modify")
    customer = _customer(client, admin, login="abc", password="password-1")
    own = login(client, "abc", "password-1")
    refused = client.put(
        f"/v1/customers/{customer['id']}/role", json={"role_id": role["id"]}, headers=own
    )
    assert_problem(refused, 403, "forbidden")


def test_the_permissions_a_request_carries_come_from_the_role_held(
    client: TestClient, admin: H, runtime: Any
) -> None:
    from projections.access import AccessQueries

    customer = _customer(client, admin)
    queries = AccessQueries(runtime.db)
    as_customer = Actor(customer["id"], Realm.CUSTOMER, "customer")
    assert queries.permissions(as_customer) == REALM_DEFAULT
    assert queries.permissions(Actor("x", Realm.ADMIN, "admin")) is None
    role = _role(client, admin, "Billing only", billing="read")
    client.put(f"/v1/customers/{customer['id']}/role", json={"role_id": role["id"]}, headers=admin)
    held = queries.permissions(as_customer)
    assert held is not None and held[Section.BILLING] is Access.READ
    assert held[Section.INDIVIDUALS] is Access.RESTRICT
    ctx = CommandContext(as_customer, permissions=held)
    try:
        ctx.require(Section.INDIVIDUALS, Access.READ)
    except Exception as error:
        assert getattr(error, "code", None) == "permission_denied"
        assert "individuals" in str(error)
    else:
        raise AssertionError("Restrict on individuals must refuse a read")


def test_accounts_are_the_extensions_section(client: TestClient, admin: H) -> None:
    customer = _customer(client, admin, login="abc", password="password-1")
    account = create(client, admin, "accounts", customer_id=customer["id"], login="desk-3")
    own = login(client, "abc", "password-1")
    assert client.get("/v1/accounts", headers=own).status_code == 200  # the realm default
    reader = _role(client, admin, "Extensions reader", extensions="read")
    client.put(
        f"/v1/customers/{customer['id']}/role", json={"role_id": reader["id"]}, headers=admin
    )
    assert client.get(f"/v1/accounts/{account['id']}", headers=own).status_code == 200
    made = client.post(
        "/v1/accounts", json={"customer_id": customer["id"], "login": "desk-4"}, headers=own
    )
    assert_problem(made, 403, "permission_denied")
    assert "extensions" in made.json()["detail"]
    nothing = _role(client, admin, "Billing clerk", billing="modify")
    client.put(
        f"/v1/customers/{customer['id']}/role", json={"role_id": nothing["id"]}, headers=admin
    )
    listed = client.get("/v1/accounts", headers=own)
    assert_problem(listed, 403, "permission_denied")
    assert "extensions" in listed.json()["detail"]
