"""Webhooks through a real `switchlog serve` and a real receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudevents.v1.http import from_http
from standardwebhooks.webhooks import Webhook

from tests.conftest import eventually
from tests.e2e.processes import Server, base_env, free_port, run_cli
from tests.e2e.receiver import Receiver
from tests.e2e.streams import token

ENV = {
    "SWITCHLOG_ADMIN_LOGIN": "root",
    "SWITCHLOG_ADMIN_PASSWORD": "root-pass-1",
    "SWITCHLOG_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
    "SWITCHLOG_WEBHOOK_RETRY_SCHEDULE": "[0.3, 0.3, 0.3]",
    "SWITCHLOG_WEBHOOK_TIMEOUT_SECONDS": "1",
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server({**base_env(), **ENV}, tmp_path)
    yield running
    running.stop()


@pytest.fixture
def admin(server: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(server.url, 'root', 'root-pass-1')}"}


def _register(server: Server, headers: dict[str, str], url: str, **filters: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/v1/webhooks", json={"url": url, **filters}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _customer(server: Server, headers: dict[str, str], name: str, **extra: Any) -> dict[str, Any]:
    body = {"name": name, "currency": "EUR", "time_zone": "UTC", **extra}
    response = httpx.post(f"{server.url}/v1/customers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _verify(secret: str, request: dict[str, Any]) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in request["headers"].items()}
    return Webhook(secret).verify(request["body"], headers)  # type: ignore[no-any-return]


def test_delivery_is_signed_a_cloudevent_and_sent_once(
    server: Server, receiver: Receiver, admin: dict[str, str]
) -> None:
    hook = _register(server, admin, f"{receiver.url}/ok", event_types=["Customer.Created"])
    assert hook["secret"].startswith("whsec_")
    customer = _customer(server, admin, "Hooked")
    (request,) = eventually(lambda: receiver.to("/ok"), timeout=20)
    payload = _verify(hook["secret"], request)
    assert payload["subject"] == customer["id"] and payload["type"] == "directory.Customer.Created"
    event = from_http(request["headers"], request["body"])
    assert event["id"] == f"{customer['id']}:1"
    assert request["headers"]["webhook-signature"].startswith("v1,")
    _customer(server, admin, "Marker")  # a later event: once it is in, the first is settled
    eventually(lambda: len(receiver.to("/ok")) == 2, timeout=20)
    ids = [r["headers"]["webhook-id"] for r in receiver.to("/ok")]
    assert len(set(ids)) == 2  # a 2xx is final: the first was never sent again


def test_failing_receiver_is_retried_with_the_same_webhook_id(
    server: Server, receiver: Receiver, admin: dict[str, str]
) -> None:
    hook = _register(server, admin, f"{receiver.url}/flaky/2", event_types=["Customer.Created"])
    _customer(server, admin, "Flaky")
    attempts = eventually(lambda: len(receiver.to("/flaky/2")) >= 3 and receiver.to("/flaky/2"))
    assert len({a["headers"]["webhook-id"] for a in attempts}) == 1
    for attempt in attempts:
        _verify(hook["secret"], attempt)
    first_id = attempts[0]["headers"]["webhook-id"]
    _customer(server, admin, "Marker")  # retried on the same schedule: three attempts too
    eventually(lambda: len(receiver.to("/flaky/2")) >= 6, timeout=30)
    by_id = [r["headers"]["webhook-id"] for r in receiver.to("/flaky/2")]
    assert by_id.count(first_id) == 3  # delivered on the third, never again


def test_down_and_slow_receivers_are_dead_lettered_then_redelivered(
    server: Server, receiver: Receiver, admin: dict[str, str], tmp_path: Path
) -> None:
    down_port = free_port()
    down = _register(
        server, admin, f"http://127.0.0.1:{down_port}/ok", event_types=["Customer.Created"]
    )
    slow = _register(server, admin, f"{receiver.url}/slow", event_types=["Customer.Created"])
    _customer(server, admin, "Unlucky")
    env = {**base_env(), **ENV, "SWITCHLOG_VAR_DIR": str(tmp_path / "var")}

    def failed() -> list[dict[str, Any]]:
        lines = run_cli(["webhooks", "failed", "--json"], env, tmp_path).splitlines()
        return [json.loads(line) for line in lines]

    parked = eventually(lambda: len(failed()) == 2 and failed(), timeout=60, interval=1)
    assert {p["endpoint_id"] for p in parked} == {down["id"], slow["id"]}
    assert all(p["attempts"] == 4 for p in parked)  # first try + the 3 scheduled retries
    assert len(receiver.to("/slow")) == 4

    revived = Receiver(down_port)
    try:
        out = run_cli(["webhooks", "redeliver", "--endpoint", down["id"]], env, tmp_path)
        assert "1 deliveries queued again" in out
        (request,) = eventually(lambda: revived.to("/ok"), timeout=20)
        _verify(down["secret"], request)
    finally:
        revived.stop()


def test_gone_receiver_disables_its_endpoint(
    server: Server, receiver: Receiver, admin: dict[str, str]
) -> None:
    hook = _register(server, admin, f"{receiver.url}/gone", event_types=["Customer.Created"])
    _customer(server, admin, "First")
    eventually(lambda: receiver.to("/gone"))

    def status() -> str:
        return str(
            httpx.get(f"{server.url}/v1/webhooks/{hook['id']}", headers=admin).json()["status"]
        )

    eventually(lambda: status() == "disabled")
    _register(server, admin, f"{receiver.url}/ok", event_types=["Customer.Created"])
    _customer(server, admin, "Second")
    eventually(lambda: receiver.to("/ok"), timeout=20)  # the marker: Second was delivered
    assert len(receiver.to("/gone")) == 1


def test_a_customer_hook_receives_only_that_customers_events(
    server: Server, receiver: Receiver, admin: dict[str, str]
) -> None:
    alice = _customer(server, admin, "Alice", login="alice", password="password-1")
    bob = _customer(server, admin, "Bob")
    alice_token = {"Authorization": f"Bearer {token(server.url, 'alice', 'password-1')}"}
    refused = httpx.post(
        f"{server.url}/v1/webhooks",
        json={"url": f"{receiver.url}/ok", "customer": bob["id"]},
        headers=alice_token,
    )
    assert refused.status_code == 403
    _register(server, alice_token, f"{receiver.url}/ok")
    for customer, login in ((alice, "a1"), (bob, "b1"), (alice, "a2"), (bob, "b2")):
        response = httpx.post(
            f"{server.url}/v1/accounts",
            json={"customer_id": customer["id"], "login": login},
            headers=admin,
        )
        assert response.status_code == 201
    marker = httpx.post(
        f"{server.url}/v1/accounts",
        json={"customer_id": alice["id"], "login": "a3"},
        headers=admin,
    )
    assert marker.status_code == 201

    def logins() -> list[str]:
        return sorted(json.loads(r["body"])["data"].get("login", "") for r in receiver.to("/ok"))

    eventually(lambda: "a3" in logins(), timeout=20)
    bodies = [json.loads(r["body"]) for r in receiver.to("/ok")]
    assert sorted(b["data"]["login"] for b in bodies) == ["a1", "a2", "a3"]
