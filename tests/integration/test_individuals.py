"""Customer individuals through HTTP: the seed's ABC company (Bob, Steve and Adam), access
dates in the individual's zone checked on every request, and roles never widened."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from adapters.clock import FileClock
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create

H = dict[str, str]
START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
EVERYTHING = {
    "individuals": "modify",
    "extensions": "modify",
    "phones": "modify",
    "call_control": "modify",
    "billing": "modify",
    "allowed_roles": "read",
}


def _role(client: TestClient, admin: H, name: str, **permissions: str) -> str:
    return str(create(client, admin, "roles", name=name, permissions=permissions)["id"])


def _individual(
    client: TestClient, headers: H, customer_id: str, login_: str, role_id: str, **extra: Any
) -> Any:
    body = {
        "login": login_,
        "password": f"{login_}-password-1",
        "email": f"{login_}@abc.example",
        "role_id": role_id,
        "time_zone": "UTC",
        **extra,
    }
    return client.post(f"/v1/customers/{customer_id}/individuals", json=body, headers=headers)


@pytest.fixture
def abc(client: TestClient, admin: H, clock: FileClock) -> dict[str, str]:
    """ABC with the seed's three roles allowed, and Bob, its portal administrator."""
    clock.set(START)
    customer = create(client, admin, "customers", name="ABC", currency="USD", time_zone="UTC")
    roles = {
        "customer_admin": _role(client, admin, "Customer admin", **EVERYTHING),
        "pbx_admin": _role(
            client, admin, "PBX admin", extensions="modify", phones="modify", call_control="modify"
        ),
        "operations": _role(client, admin, "Operations manager", billing="modify"),
    }
    allowed = client.put(
        f"/v1/customers/{customer['id']}/allowed-roles",
        json={"role_ids": list(roles.values())},
        headers=admin,
    )
    assert allowed.status_code == 200, allowed.text
    bob = _individual(client, admin, customer["id"], "bob", roles["customer_admin"])
    assert bob.status_code == 201, bob.text
    return {"customer_id": customer["id"], "bob_id": bob.json()["id"], **roles}


def test_bob_adds_steve_and_adam_and_audit_shows_who_gave_adam_access(
    client: TestClient, admin: H, abc: dict[str, str], clock: FileClock
) -> None:
    bob = login(client, "bob", "bob-password-1")
    claims = jwt.decode(bob["Authorization"].split()[1], options={"verify_signature": False})
    assert (claims["realm"], claims["customer_id"], claims["individual_id"]) == (
        "customer",
        abc["customer_id"],
        abc["bob_id"],
    )
    assert (claims["sub"], claims["role_id"], claims["login"]) == (
        abc["bob_id"],
        abc["customer_admin"],
        "bob",
    )
    steve = _individual(client, bob, abc["customer_id"], "steve", abc["pbx_admin"])
    assert steve.status_code == 201, steve.text
    adam = _individual(
        client,
        bob,
        abc["customer_id"],
        "adam",
        abc["operations"],
        activation_date="2026-04-20",
        time_zone="Europe/Kyiv",
    )
    assert adam.status_code == 201, adam.text
    assert adam.json()["activation_date"] == "2026-04-20"
    listed = client.get(f"/v1/customers/{abc['customer_id']}/individuals", headers=bob).json()
    assert sorted(i["login"] for i in listed["items"]) == ["adam", "bob", "steve"]

    trail = client.get("/v1/audit", params={"subject": "adam"}, headers=admin).json()["items"]
    created = next(e for e in trail if e["type"] == "directory.Individual.Created")
    assert created["actor"]["individual_id"] == abc["bob_id"]
    assert created["actor"]["login"] == "bob"
    assert created["actor"]["id"] == abc["customer_id"]
    assert created["changes"]["secret"]["after"] == "***"
    assert "password_hash" not in created["changes"] or (
        created["changes"]["password_hash"]["after"] == "***"
    )
    # Bob's customer audits its own individuals too.
    own = client.get("/v1/audit", params={"subject": adam.json()["id"]}, headers=bob).json()
    assert [e["actor"]["login"] for e in own["items"]] == ["bob"]


def test_before_activation_the_right_password_is_refused_saying_when_access_starts(
    client: TestClient, admin: H, abc: dict[str, str], clock: FileClock
) -> None:
    created = _individual(
        client,
        admin,
        abc["customer_id"],
        "adam",
        abc["operations"],
        activation_date="2026-04-20",
        time_zone="Europe/Kyiv",
    )
    assert created.status_code == 201, created.text
    early = client.post("/v1/auth/token", data={"username": "adam", "password": "adam-password-1"})
    assert_problem(early, 403, "individual_inactive")
    assert "2026-04-20" in early.json()["detail"]
    assert "Europe/Kyiv" in early.json()["detail"]
    wrong = client.post("/v1/auth/token", data={"username": "adam", "password": "wrong-password"})
    assert_problem(wrong, 401, "unauthenticated")
    assert wrong.json()["detail"] == "unknown login or wrong password"
    # Midnight of April 20 in Kyiv (UTC+3 in summer) is 21:00 UTC on April 19.
    clock.set(datetime(2026, 4, 19, 20, 59, 59, tzinfo=UTC))
    still = client.post("/v1/auth/token", data={"username": "adam", "password": "adam-password-1"})
    assert_problem(still, 403, "individual_inactive")
    clock.set(datetime(2026, 4, 19, 21, 0, tzinfo=UTC))
    assert login(client, "adam", "adam-password-1")


def test_an_expired_individuals_token_stops_working_at_expiry(
    client: TestClient, admin: H, abc: dict[str, str], clock: FileClock
) -> None:
    made = _individual(
        client,
        admin,
        abc["customer_id"],
        "temp",
        abc["operations"],
        expiration_date="2026-05-01",
        time_zone="America/New_York",
    )
    assert made.status_code == 201, made.text
    me = f"/v1/individuals/{made.json()['id']}"
    # The last minutes of May 1 in New York (UTC-4): the token is issued and works.
    clock.set(datetime(2026, 5, 2, 3, 30, tzinfo=UTC))
    token = login(client, "temp", "temp-password-1")
    assert client.get(me, headers=token).status_code == 200
    clock.set(datetime(2026, 5, 2, 3, 59, 59, tzinfo=UTC))
    assert client.get(me, headers=token).status_code == 200
    clock.set(datetime(2026, 5, 2, 4, 0, tzinfo=UTC))
    ended = client.get(me, headers=token)
    assert_problem(ended, 403, "individual_inactive")
    assert "ended" in ended.json()["detail"] and "2026-05-01" in ended.json()["detail"]
    again = client.post("/v1/auth/token", data={"username": "temp", "password": "temp-password-1"})
    assert_problem(again, 403, "individual_inactive")


def test_an_individual_with_read_on_individuals_cannot_add_one(
    client: TestClient, admin: H, abc: dict[str, str]
) -> None:
    reader = _role(client, admin, "Reader", individuals="read")
    client.put(
        f"/v1/customers/{abc['customer_id']}/allowed-roles",
        json={"role_ids": [abc["customer_admin"], abc["operations"], reader]},
        headers=admin,
    )
    assert _individual(client, admin, abc["customer_id"], "rita", reader).status_code == 201
    rita = login(client, "rita", "rita-password-1")
    listed = client.get(f"/v1/customers/{abc['customer_id']}/individuals", headers=rita)
    assert listed.status_code == 200
    refused = _individual(client, rita, abc["customer_id"], "eve", reader)
    assert_problem(refused, 403, "permission_denied")
    assert "individuals" in refused.json()["detail"]


def test_a_role_without_the_section_cannot_even_read_it(
    client: TestClient, admin: H, abc: dict[str, str]
) -> None:
    assert (
        _individual(client, admin, abc["customer_id"], "steve", abc["pbx_admin"]).status_code == 201
    )
    steve = login(client, "steve", "steve-password-1")
    refused = client.get(f"/v1/customers/{abc['customer_id']}/individuals", headers=steve)
    assert_problem(refused, 403, "permission_denied")
    assert "individuals" in refused.json()["detail"]
    allowed = client.get(f"/v1/customers/{abc['customer_id']}/allowed-roles", headers=steve)
    assert_problem(allowed, 403, "permission_denied")
    assert "allowed_roles" in allowed.json()["detail"]


def test_an_individual_never_grants_more_than_its_own_role(
    client: TestClient, admin: H, abc: dict[str, str], log_size: Any
) -> None:
    manager = _role(client, admin, "Team lead", individuals="modify", billing="read")
    client.put(
        f"/v1/customers/{abc['customer_id']}/allowed-roles",
        json={"role_ids": [abc["customer_admin"], abc["operations"], manager]},
        headers=admin,
    )
    assert _individual(client, admin, abc["customer_id"], "lead", manager).status_code == 201
    lead = login(client, "lead", "lead-password-1")
    before = log_size()
    wider = _individual(client, lead, abc["customer_id"], "eve", abc["operations"])
    assert_problem(wider, 403, "permission_denied")
    assert "billing" in wider.json()["detail"]
    # Nor can it raise Bob (whose role is wider) or touch him at all.
    raised = client.patch(
        f"/v1/individuals/{abc['bob_id']}", json={"email": "x@abc.example"}, headers=lead
    )
    assert_problem(raised, 403, "permission_denied")
    assert log_size() == before
    assert _individual(client, lead, abc["customer_id"], "peer", manager).status_code == 201


def test_a_role_the_customer_is_not_allowed_is_refused(
    client: TestClient, admin: H, abc: dict[str, str], log_size: Any
) -> None:
    other = _role(client, admin, "Reseller tools", billing="read")
    before = log_size()
    for headers in (admin, login(client, "bob", "bob-password-1")):
        refused = _individual(client, headers, abc["customer_id"], "eve", other)
        assert_problem(refused, 403, "role_not_allowed")
        changed = client.patch(
            f"/v1/individuals/{abc['bob_id']}", json={"role_id": other}, headers=headers
        )
        assert_problem(changed, 403, "role_not_allowed")
    assert log_size() == before


def test_a_role_taken_off_the_allowed_list_gives_its_holders_nothing(
    client: TestClient, admin: H, abc: dict[str, str]
) -> None:
    bob = login(client, "bob", "bob-password-1")
    url = f"/v1/customers/{abc['customer_id']}/individuals"
    assert client.get(url, headers=bob).status_code == 200
    client.put(
        f"/v1/customers/{abc['customer_id']}/allowed-roles",
        json={"role_ids": [abc["operations"]]},
        headers=admin,
    )
    assert_problem(client.get(url, headers=bob), 403, "permission_denied")


def test_bad_individuals_are_refused_and_change_nothing(
    client: TestClient, admin: H, abc: dict[str, str], log_size: Any
) -> None:
    before = log_size()
    cases = [
        ({"activation_date": "20260420"}, 422, "validation_error"),
        ({"activation_date": "2026-02-30"}, 422, "invalid_value"),
        ({"activation_date": "2026-05-01", "expiration_date": "2026-04-30"}, 422, "invalid_value"),
        ({"time_zone": "Mars/Olympus"}, 422, "invalid_value"),
        ({"email": "not-an-address"}, 422, "invalid_value"),
        ({"login": "bob"}, 409, "duplicate"),
        ({"role_id": "00000000-0000-0000-0000-000000000000"}, 422, "invalid_value"),
    ]
    for overrides, status, code in cases:
        body = {
            "login": "eve",
            "password": "eve-password-1",
            "email": "eve@abc.example",
            "role_id": abc["operations"],
            "time_zone": "UTC",
            **overrides,
        }
        refused = client.post(
            f"/v1/customers/{abc['customer_id']}/individuals", json=body, headers=admin
        )
        assert_problem(refused, status, code)
    assert log_size() == before


def test_other_customers_do_not_see_abcs_individuals(
    client: TestClient, admin: H, abc: dict[str, str]
) -> None:
    create(
        client,
        admin,
        "customers",
        name="XYZ",
        currency="USD",
        time_zone="UTC",
        login="xyz",
        password="password-1",
    )
    xyz = login(client, "xyz", "password-1")
    assert_problem(client.get(f"/v1/individuals/{abc['bob_id']}", headers=xyz), 404, "not_found")
    listed = client.get(f"/v1/customers/{abc['customer_id']}/individuals", headers=xyz)
    assert_problem(listed, 404, "not_found")
    made = _individual(client, xyz, abc["customer_id"], "eve", abc["operations"])
    assert_problem(made, 404, "not_found")


def test_a_closed_individual_or_customer_stops_its_tokens(
    client: TestClient, admin: H, abc: dict[str, str]
) -> None:
    bob = login(client, "bob", "bob-password-1")
    me = f"/v1/individuals/{abc['bob_id']}"
    assert client.get(me, headers=bob).status_code == 200
    closed = client.post(f"{me}/close", headers=admin)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert_problem(client.get(me, headers=bob), 401, "unauthenticated")
    again = client.post("/v1/auth/token", data={"username": "bob", "password": "bob-password-1"})
    assert_problem(again, 401, "unauthenticated")


def test_an_individual_changes_its_own_password(
    client: TestClient, admin: H, abc: dict[str, str]
) -> None:
    assert (
        _individual(client, admin, abc["customer_id"], "steve", abc["pbx_admin"]).status_code == 201
    )
    steve = login(client, "steve", "steve-password-1")
    me = client.get("/v1/customers", headers=steve)
    assert me.status_code == 200
    steve_id = jwt.decode(steve["Authorization"].split()[1], options={"verify_signature": False})[
        "individual_id"
    ]
    changed = client.patch(
        f"/v1/individuals/{steve_id}", json={"password": "steve-password-2"}, headers=steve
    )
    assert changed.status_code == 200, changed.text
    assert login(client, "steve", "steve-password-2")
    other = client.patch(
        f"/v1/individuals/{steve_id}",
        json={"email": "s@abc.example"},
        headers=login(client, "steve", "steve-password-2"),
    )
    assert_problem(other, 403, "permission_denied")
