"""A CRM-style client, using only the documented API of a real `switchlog serve`:
click-to-call with state callbacks, an attended transfer followed by tracking ids, the
active-call view. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from websockets.sync.client import ClientConnection, connect

from tests.conftest import eventually
from tests.e2e.processes import Server, base_env
from tests.e2e.receiver import Receiver
from tests.e2e.streams import token

ADMIN = {"SWITCHLOG_ADMIN_LOGIN": "root", "SWITCHLOG_ADMIN_PASSWORD": "root-pass-1"}
CLIENT, SUPPORT = "4420700900", "4420700901"


@pytest.fixture
def server(tmp_path: Path, store_url: str) -> Iterator[Server]:
    env = {
        **base_env(),
        **ADMIN,
        "SWITCHLOG_STORE_URL": store_url,
        "SWITCHLOG_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
    }
    running = Server(env, tmp_path)
    yield running
    running.stop()


class Api:
    def __init__(self, server: Server, bearer: str) -> None:
        self.http = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {bearer}"}, timeout=15
        )

    def call(self, method: str, body: Any = None, path: str = "", **params: Any) -> Any:
        answer = self.http.request(method, path, json=body, params=params or None)
        assert answer.status_code < 300, answer.text
        return answer.json()

    def rpc(self, method: str, **params: Any) -> Any:
        return self.call("POST", params, f"/v1/call-control/{method}")


def _setup(server: Server) -> tuple[Api, dict[str, Any]]:
    """The operator's part: a customer, two extensions, a role with call control."""
    admin = Api(server, token(server.url, "root", "root-pass-1"))
    customer = admin.call(
        "POST",
        {
            "name": "ABC",
            "currency": "USD",
            "time_zone": "UTC",
            "login": "abc",
            "password": "abc-password",
        },
        "/v1/customers",
    )
    john = admin.call(
        "POST", {"extension": "466", "products": []}, f"/v1/customers/{customer['id']}/extensions"
    )
    role = admin.call(
        "POST", {"name": "CRM", "permissions": {"call_control": "modify"}}, "/v1/roles"
    )
    admin.call("PUT", {"role_id": role["id"]}, f"/v1/customers/{customer['id']}/role")
    for number, script in (
        (john["account_login"], {"answer_after_ms": 50}),
        (CLIENT, {"answer_after_ms": 80}),
        (SUPPORT, {"answer_after_ms": 80}),
    ):
        admin.call("PUT", script, f"/v1/network/scripted/{number}")
    return Api(server, token(server.url, "abc", "abc-password")), john


def _notices(ws: ClientConnection, done: Any, timeout: float = 20) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not done(seen):
        frame = json.loads(ws.recv(max(deadline - time.monotonic(), 0.01)))
        if frame.get("method") == "call_info":
            seen.append(frame["params"])
    return seen


def test_a_crm_follows_a_click_to_call_through_an_attended_transfer(
    server: Server, receiver: Receiver
) -> None:
    crm, john = _setup(server)
    secret = crm.call("GET", path="/v1/call-control/signing-secret")["secret"]
    bearer = crm.http.headers["Authorization"].removeprefix("Bearer ")
    with connect(f"ws://127.0.0.1:{server.port}/v1/call-control/ws?token={bearer}") as ws:
        ws.send(
            json.dumps(
                {"id": 1, "method": "subscribe", "params": {"number": john["account_login"]}}
            )
        )
        assert "result" in json.loads(ws.recv(5))
        clicked = crm.rpc(
            "originate_advanced_call",
            caller_id=john["account_login"],
            callee_id=CLIENT,
            state_callback=f"{receiver.url}/ok",
            state_callback_events=["ringing", "connected", "transferred"],
        )
        _notices(ws, lambda seen: sum(n["state"] == "connected" for n in seen) >= 1)
        active = eventually(
            lambda: [
                c
                for c in crm.call("GET", path="/v1/calls/active")["items"]
                if c["call_id"] == clicked["call_id"]
                and [leg["state"] for leg in c["legs"]] == ["connected", "connected"]
            ]
        )
        assert active[0]["tracking_id"] == clicked["tracking_id"]
        consult = crm.rpc(
            "originate_advanced_call", caller_id=john["account_login"], callee_id=SUPPORT
        )
        eventually(
            lambda: any(
                c["call_id"] == consult["call_id"]
                and [leg["state"] for leg in c["legs"]] == ["connected", "connected"]
                for c in crm.call("GET", path="/v1/calls/active")["items"]
            )
        )
        moved = crm.rpc(
            "transfer_call", call_id=clicked["call_id"], consult_call_id=consult["call_id"]
        )
        notices = _notices(ws, lambda seen: sum(n["state"] == "transferred" for n in seen) >= 2)
    transferred = {n["call_id"]: n for n in notices if n["state"] == "transferred"}
    assert transferred[clicked["call_id"]]["previous_tracking_id"] == clicked["tracking_id"]
    assert transferred[consult["call_id"]]["previous_tracking_id"] == consult["tracking_id"]
    assert {n["tracking_id"] for n in transferred.values()} == {moved["tracking_id"]}
    # the client's call is now with support: one session under the new tracking id
    after = eventually(
        lambda: [
            c
            for c in crm.call("GET", path="/v1/calls/active")["items"]
            if c["tracking_id"] == moved["tracking_id"]
            and all(
                leg["state"] == "connected" for leg in c["legs"] if leg["state"] != "terminated"
            )
        ]
    )
    assert {c["call_id"] for c in after} == {clicked["call_id"], consult["call_id"]}
    crm.rpc("disconnect_call", call_id=clicked["call_id"])
    posted = eventually(
        lambda: (
            (got := receiver.to("/ok"))
            and any(json.loads(r["body"])["state"] == "terminated" for r in got)
            and got
        )
    )
    for request in posted:
        Webhook(secret).verify(request["body"], request["headers"])
    states = [json.loads(r["body"])["state"] for r in posted]
    assert states[:2] == ["ringing", "connected"] and "transferred" in states
    bodies = [json.loads(r["body"]) for r in posted]
    assert [b["seq"] for b in bodies] == sorted(b["seq"] for b in bodies)
    assert bodies[-1]["tracking_id"] == moved["tracking_id"]
    assert bodies[-1]["previous_tracking_id"] == clicked["tracking_id"]
    missed = crm.call("GET", path=f"/v1/calls/{clicked['call_id']}/events")
    assert [m["seq"] for m in missed] == list(range(1, len(missed) + 1))
