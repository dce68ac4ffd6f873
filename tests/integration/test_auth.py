"""Tokens: expiry, tampering, realms, and principals that get closed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi.testclient import TestClient

from adapters.clock import FileClock
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, JWT_SECRET
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create


def _token(claims: dict[str, Any], key: str = JWT_SECRET) -> dict[str, str]:
    now = int(time.time())
    full = {"iss": "switchlog", "iat": now, "exp": now + 60, **claims}
    return {"Authorization": f"Bearer {jwt.encode(full, key, algorithm='HS256')}"}


def _admin_id(client: TestClient, admin: dict[str, str]) -> str:
    claims = jwt.decode(admin["Authorization"].split()[1], options={"verify_signature": False})
    return str(claims["sub"])


def test_token_endpoint_speaks_oauth2_password_flow(client: TestClient) -> None:
    response = client.post(
        "/v1/auth/token", data={"username": ADMIN_LOGIN, "password": "root-password-1"}
    )
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    wrong = client.post("/v1/auth/token", data={"username": ADMIN_LOGIN, "password": "nope-nope"})
    assert_problem(wrong, 401, "unauthenticated")


def test_missing_expired_tampered_and_foreign_tokens_are_401(
    client: TestClient, admin: dict[str, str]
) -> None:
    admin_id = _admin_id(client, admin)
    assert_problem(client.get("/v1/customers"), 401, "unauthenticated")
    expired = _token({"sub": admin_id, "realm": "admin", "iat": 1, "exp": 2})
    assert_problem(client.get("/v1/customers", headers=expired), 401, "unauthenticated")
    header, payload, signature = admin["Authorization"].split()[1].split(".")
    tampered = {"Authorization": f"Bearer {header}.{payload}.{signature[::-1]}"}
    assert_problem(client.get("/v1/customers", headers=tampered), 401, "unauthenticated")
    foreign = _token({"sub": admin_id, "realm": "admin"}, key="another-key-" * 4)
    assert_problem(client.get("/v1/customers", headers=foreign), 401, "unauthenticated")


def test_token_claiming_another_realm_is_refused(client: TestClient, admin: dict[str, str]) -> None:
    customer = create(
        client,
        admin,
        "customers",
        name="C",
        currency="EUR",
        time_zone="UTC",
        login="c",
        password="password-1",
    )
    forged = _token({"sub": customer["id"], "realm": "admin"})
    assert_problem(client.get("/v1/resellers", headers=forged), 401, "unauthenticated")


def test_realm_without_rights_is_403(client: TestClient, admin: dict[str, str]) -> None:
    create(
        client,
        admin,
        "customers",
        name="C",
        currency="EUR",
        time_zone="UTC",
        login="c",
        password="password-1",
    )
    customer = login(client, "c", "password-1")
    made = client.post("/v1/resellers", json={"name": "R"}, headers=customer)
    assert_problem(made, 403, "forbidden")


def test_token_of_closed_account_stops_working(client: TestClient, admin: dict[str, str]) -> None:
    customer = create(client, admin, "customers", name="C", currency="EUR", time_zone="UTC")
    account = create(
        client, admin, "accounts", customer_id=customer["id"], login="desk-1", password="password-1"
    )
    token = login(client, "desk-1", "password-1")
    assert client.get(f"/v1/accounts/{account['id']}", headers=token).status_code == 200
    client.post(f"/v1/accounts/{account['id']}/close", headers=admin)
    assert_problem(
        client.get(f"/v1/accounts/{account['id']}", headers=token), 401, "unauthenticated"
    )
    relogin = client.post("/v1/auth/token", data={"username": "desk-1", "password": "password-1"})
    assert_problem(relogin, 401, "unauthenticated")


def test_tokens_issued_before_a_password_change_stop_working(
    client: TestClient, admin: dict[str, str]
) -> None:
    customer = create(
        client,
        admin,
        "customers",
        name="Rotating",
        currency="EUR",
        time_zone="UTC",
        login="rot",
        password="password-1",
    )
    old = login(client, "rot", "password-1")
    url = f"/v1/customers/{customer['id']}"
    assert client.get(url, headers=old).status_code == 200
    changed = client.patch(url, json={"password": "password-2"}, headers=admin)
    assert changed.status_code == 200
    assert_problem(client.get(url, headers=old), 401, "unauthenticated")
    new = login(client, "rot", "password-2")
    assert client.get(url, headers=new).status_code == 200


def test_a_token_expires_on_the_runtime_clock(
    client: TestClient, admin: dict[str, str], clock: FileClock
) -> None:
    now = datetime.now(UTC)
    clock.set(now)
    token = login(client, ADMIN_LOGIN, ADMIN_PASSWORD)
    clock.set(now + timedelta(seconds=3599))
    assert client.get("/v1/resellers", headers=token).status_code == 200
    clock.set(now + timedelta(seconds=3601))  # past the 1 h lifetime, without waiting an hour
    assert_problem(client.get("/v1/resellers", headers=token), 401, "unauthenticated")
