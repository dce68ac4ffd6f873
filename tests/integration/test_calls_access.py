"""Who may control and watch which calls: roles' call_control section, realms, ownership."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.integration.calls_helpers import PROSPECT, Headers, live, ok, pbx, rpc, script
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create


def _role(client: TestClient, admin: Headers, access: str) -> str:
    role = create(
        client, admin, "roles", name=f"Calls {access}", permissions={"call_control": access}
    )
    return str(role["id"])


def _give(client: TestClient, admin: Headers, path: str, role_id: str) -> None:
    answer = client.put(f"/v1/{path}/role", json={"role_id": role_id}, headers=admin)
    assert answer.status_code == 200, answer.text


def _as_account(client: TestClient, extension: dict[str, Any]) -> Headers:
    return login(client, extension["account_login"], extension["sip_password"])


def test_customers_and_accounts_need_their_roles_call_control_permission(
    client: TestClient, admin: Headers, log_size: Any
) -> None:
    office = pbx(client, admin)
    customer = login(client, "abc", "abc-password")
    john = office["john"]["account_login"]
    before = log_size()
    refused = rpc(client, customer, "originate_advanced_call", caller_id=john, callee_id=PROSPECT)
    assert_problem(refused, 403, "permission_denied")
    assert "call_control" in refused.json()["detail"]
    assert_problem(client.get("/v1/calls/active", headers=customer), 403, "permission_denied")
    assert log_size() == before
    _give(client, admin, f"customers/{office['customer']['id']}", _role(client, admin, "read"))
    before = log_size()
    assert client.get("/v1/calls/active", headers=customer).status_code == 200
    refused = rpc(client, customer, "originate_advanced_call", caller_id=john, callee_id=PROSPECT)
    assert_problem(refused, 403, "permission_denied")
    assert log_size() == before
    _give(client, admin, f"customers/{office['customer']['id']}", _role(client, admin, "modify"))
    script(client, admin, john, reject="busy")
    assert ok(client, customer, "originate_advanced_call", caller_id=john, callee_id=PROSPECT)


def test_a_customer_controls_only_its_own_accounts_calls(
    client: TestClient, admin: Headers, log_size: Any
) -> None:
    ours, theirs = pbx(client, admin), pbx(client, admin, "XYZ", 46171)
    modify = _role(client, admin, "modify")
    for office in (ours, theirs):
        _give(client, admin, f"customers/{office['customer']['id']}", modify)
    abc, xyz = login(client, "abc", "abc-password"), login(client, "xyz", "xyz-password")
    their_john = theirs["john"]["account_login"]
    script(client, admin, their_john, answer_after_ms=10)
    script(client, admin, PROSPECT, answer_after_ms=10)
    theirs_call = ok(
        client, xyz, "originate_advanced_call", caller_id=their_john, callee_id=PROSPECT
    )
    live(client, xyz, theirs_call["call_id"], "connected", "connected")
    before = log_size()
    for answer in (
        rpc(client, abc, "originate_advanced_call", caller_id=their_john, callee_id=PROSPECT),
        rpc(
            client,
            abc,
            "originate_advanced_call",
            caller_id=ours["john"]["account_login"],
            callee_id=PROSPECT,
            bill_id=theirs["john"]["account_id"],
        ),
        rpc(client, abc, "disconnect_call", call_id=theirs_call["call_id"]),
        rpc(client, abc, "hold_call", call_id=theirs_call["call_id"]),
        client.get(f"/v1/calls/{theirs_call['call_id']}/events", headers=abc),
    ):
        assert_problem(answer, 404, "not_found")
    assert log_size() == before
    assert client.get("/v1/calls/active", headers=abc).json()["items"] == []
    seen = client.get("/v1/calls/active", headers=xyz).json()["items"]
    assert [c["call_id"] for c in seen] == [theirs_call["call_id"]]
    everyone = client.get("/v1/calls/active", headers=admin).json()["items"]
    assert theirs_call["call_id"] in [c["call_id"] for c in everyone]


def test_an_account_controls_only_its_own_calls(client: TestClient, admin: Headers) -> None:
    office = pbx(client, admin)
    modify = _role(client, admin, "modify")
    for who in ("john", "mary"):
        _give(client, admin, f"accounts/{office[who]['account_id']}", modify)
    john, mary = _as_account(client, office["john"]), _as_account(client, office["mary"])
    script(client, admin, office["john"]["account_login"], answer_after_ms=10)
    script(client, admin, PROSPECT, answer_after_ms=10)
    started = ok(
        client,
        john,
        "originate_advanced_call",
        caller_id=office["john"]["account_login"],
        callee_id=PROSPECT,
    )
    live(client, john, started["call_id"], "connected", "connected")
    assert_problem(
        rpc(
            client,
            mary,
            "originate_advanced_call",
            caller_id=office["john"]["account_login"],
            callee_id=PROSPECT,
        ),
        404,
        "not_found",
    )
    assert_problem(
        rpc(client, mary, "disconnect_call", call_id=started["call_id"]), 404, "not_found"
    )
    assert client.get("/v1/calls/active", headers=mary).json()["items"] == []
    ok(client, john, "disconnect_call", call_id=started["call_id"])


def test_a_subscription_to_what_the_caller_may_not_watch_is_refused(
    client: TestClient, admin: Headers
) -> None:
    ours, theirs = pbx(client, admin), pbx(client, admin, "XYZ", 46171)
    _give(client, admin, f"customers/{ours['customer']['id']}", _role(client, admin, "read"))
    abc = login(client, "abc", "abc-password")
    token = abc["Authorization"].removeprefix("Bearer ")
    with client.websocket_connect(f"/v1/call-control/ws?token={token}") as ws:
        for n, params in enumerate(
            (
                {"account_id": theirs["john"]["account_id"]},
                {"customer_id": theirs["customer"]["id"]},
                {"number": theirs["john"]["account_login"]},
                {"number": PROSPECT},
            )
        ):
            ws.send_text(json.dumps({"id": n, "method": "subscribe", "params": params}))
            assert json.loads(ws.receive_text())["error"]["code"] == "not_found", params
        ws.send_text(
            json.dumps(
                {
                    "id": "own",
                    "method": "subscribe",
                    "params": {"number": ours["john"]["account_login"]},
                }
            )
        )
        assert "result" in json.loads(ws.receive_text())
        ws.send_text(
            json.dumps(
                {
                    "id": "act",
                    "method": "disconnect_call",
                    "params": {"call_id": theirs["john"]["account_id"]},
                }
            )
        )
        assert json.loads(ws.receive_text())["error"]["code"] == "permission_denied"
