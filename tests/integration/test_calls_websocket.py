"""The call control WebSocket: methods as frames, call_info notifications, bad frames."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from tests.conftest import eventually
from tests.integration.calls_helpers import PROSPECT, Headers, events, pbx, script


def _socket(client: TestClient, headers: Headers) -> Any:
    token = headers["Authorization"].removeprefix("Bearer ")
    return client.websocket_connect(f"/v1/call-control/ws?token={token}")


_EARLY: dict[int, list[dict[str, Any]]] = {}  # notifications read while awaiting a reply


@pytest.fixture(autouse=True)
def _fresh() -> None:
    _EARLY.clear()


def _ask(ws: WebSocketTestSession, request_id: Any, method: str, **params: Any) -> dict[str, Any]:
    ws.send_text(json.dumps({"id": request_id, "method": method, "params": params}))
    return _reply(ws, request_id)


def _reply(ws: WebSocketTestSession, request_id: Any) -> dict[str, Any]:
    while True:
        frame = json.loads(ws.receive_text())
        if frame.get("method") == "call_info":
            _EARLY.setdefault(id(ws), []).append(frame["params"])
        elif frame.get("id") == request_id:
            return frame  # type: ignore[no-any-return]


def _notices(ws: WebSocketTestSession, until_state: str, count: int = 1) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = _EARLY.pop(id(ws), [])
    while sum(1 for n in seen if n["state"] == until_state) < count:
        frame = json.loads(ws.receive_text())
        if frame.get("method") == "call_info":
            seen.append(frame["params"])
    return seen


def test_a_subscriber_gets_call_info_for_its_account_with_tracking_ids_in_order(
    client: TestClient, admin: Headers
) -> None:
    office = pbx(client, admin)
    john = office["john"]
    script(client, admin, john["account_login"], answer_after_ms=10)
    script(client, admin, PROSPECT, answer_after_ms=10, hangup_after_ms=30)
    with _socket(client, admin) as ws:
        assert _ask(ws, 1, "subscribe", account_id=john["account_id"])["result"] == {
            "subscribed": {"account_id": john["account_id"]}
        }
        started = _ask(
            ws, 2, "originate_advanced_call", caller_id=john["account_login"], callee_id=PROSPECT
        )["result"]
        notices = _notices(ws, "terminated", count=2)
    assert [n["seq"] for n in notices] == list(range(1, len(notices) + 1))
    assert {n["call_id"] for n in notices} == {started["call_id"]}
    assert {n["tracking_id"] for n in notices} == {started["tracking_id"]}
    assert all("previous_tracking_id" in n and "leg_id" in n and "time" in n for n in notices)
    assert [n["state"] for n in notices][:3] == ["trying", "ringing", "connected"]
    # a missed notification can be fetched, exactly as it was sent
    eventually(lambda: events(client, admin, started["call_id"]) == notices, 10)


def test_a_subscription_by_number_follows_calls_of_that_number_only(
    client: TestClient, admin: Headers
) -> None:
    office = pbx(client, admin)
    john, mary = office["john"], office["mary"]
    for who in (john, mary):
        script(client, admin, who["account_login"], reject="busy")
    with _socket(client, admin) as ws:
        assert "result" in _ask(ws, "s", "subscribe", number=mary["account_login"])
        _ask(
            ws, "a", "originate_advanced_call", caller_id=john["account_login"], callee_id=PROSPECT
        )
        _ask(
            ws, "b", "originate_advanced_call", caller_id=mary["account_login"], callee_id=PROSPECT
        )
        notices = _notices(ws, "terminated")
    assert {n["number"] for n in notices} == {mary["account_login"]}


def test_bad_frames_get_error_frames_and_the_socket_stays_open(
    client: TestClient, admin: Headers, log_size: Any
) -> None:
    office = pbx(client, admin)
    before = log_size()
    with _socket(client, admin) as ws:
        ws.send_text("{not json")
        assert _reply(ws, None)["error"]["code"] == "malformed_json"
        ws.send_text("[1, 2]")
        assert _reply(ws, None)["error"]["code"] == "invalid_request"
        assert _ask(ws, 1, "dial_everyone")["error"]["code"] == "unknown_method"
        missing = _ask(ws, 2, "originate_advanced_call", caller_id="x")
        assert missing["error"]["code"] == "invalid_params"
        assert "callee_id" in missing["error"]["message"]
        bad_number = _ask(
            ws,
            3,
            "originate_advanced_call",
            caller_id=office["john"]["account_login"],
            callee_id="12-ab",
        )
        assert bad_number["error"]["code"] == "invalid_value"
        forbidden = _ask(
            ws,
            4,
            "originate_advanced_call",
            caller_id=office["john"]["account_login"],
            callee_id=PROSPECT,
            state_callback="gopher://example.com/",
        )
        assert forbidden["error"]["code"] == "invalid_params"
        assert _ask(ws, 5, "subscribe")["error"]["code"] == "invalid_value"
        assert _ask(ws, 6, "ping") == {"id": 6, "result": {"pong": True}}
    assert log_size() == before


def test_a_socket_without_a_valid_token_is_refused(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    try:
        with client.websocket_connect("/v1/call-control/ws?token=nope") as ws:
            ws.receive_text()
    except WebSocketDisconnect as closed:
        assert closed.code == 4401
    else:
        raise AssertionError("the socket was accepted")
