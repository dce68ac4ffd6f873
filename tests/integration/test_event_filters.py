"""One filter validator: audit, SSE, WebSocket and webhooks refuse the same mistakes alike."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.helpers import assert_problem, create


def test_audit_refuses_an_unknown_event_type_instead_of_matching_nothing(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.get("/v1/audit", params={"type": "Customer.Updatd"}, headers=admin)
    assert_problem(response, 400, "invalid_filter")
    assert "Customer.Updatd" in response.json()["detail"]


def test_sse_refuses_an_unknown_event_type(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get("/v1/events/stream", params={"types": "Customer.Updatd"}, headers=admin)
    assert_problem(response, 400, "invalid_filter")


def test_webhook_registration_refuses_an_unknown_event_type(
    client: TestClient, admin: dict[str, str]
) -> None:
    body = {"url": "https://8.8.8.8/hook", "event_types": ["Customer.Updatd"]}
    response = client.post("/v1/webhooks", json=body, headers=admin)
    assert_problem(response, 400, "invalid_filter")


@pytest.mark.parametrize(
    "event_filter",
    [
        {"typez": ["Customer.Created"]},
        {"types": ["Customer.Updatd"]},
        {"types": "Customer.Created"},
        {"subject": "not-a-uuid"},
        {"customer": 42},
        ["Customer.Created"],
    ],
    ids=[
        "unknown-field",
        "unknown-type",
        "types-not-a-list",
        "bad-subject",
        "bad-customer",
        "list",
    ],
)
def test_websocket_subscription_with_a_bad_filter_gets_an_invalid_filter_frame(
    client: TestClient, admin: dict[str, str], event_filter: Any
) -> None:
    token = admin["Authorization"].removeprefix("Bearer ")
    with client.websocket_connect(f"/v1/ws?token={token}") as ws:
        ws.send_json({"type": "subscribe", "id": "bad", "filter": event_filter})
        frame = ws.receive_json()
        assert frame["type"] == "error"
        assert frame["code"] == "invalid_filter"
        assert frame["id"] == "bad"
        ws.send_json({"type": "subscribe", "id": "good", "filter": {"types": ["Customer.Created"]}})
        subscribed = ws.receive_json()  # the session is still usable
        assert (subscribed["type"], subscribed["id"]) == ("subscribed", "good")


def test_websocket_filter_fields_still_select_events(
    client: TestClient, admin: dict[str, str]
) -> None:
    customer = create(client, admin, "customers", name="Acme", currency="EUR", time_zone="UTC")
    token = admin["Authorization"].removeprefix("Bearer ")
    with client.websocket_connect(f"/v1/ws?token={token}") as ws:
        wanted = {"types": ["Account.Created"], "customer": customer["id"]}
        ws.send_json({"type": "subscribe", "id": "mine", "filter": wanted, "after": 0})
        assert ws.receive_json()["type"] == "subscribed"
        create(client, admin, "accounts", customer_id=customer["id"], login="ph1")
        frame = ws.receive_json()
        assert frame["type"] == "event"
        assert frame["event"]["type"] == "directory.Account.Created"
