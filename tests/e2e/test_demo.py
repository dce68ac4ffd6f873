"""`switchlog serve --demo`: a new user sees a demo tenant with calls flowing."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from websockets.sync.client import connect

from tests.conftest import eventually
from tests.e2e.processes import Server, base_env, switchlog_bin
from tests.e2e.streams import token


def test_the_demo_seeds_a_tenant_and_keeps_scripted_calls_flowing(tmp_path: Path) -> None:
    assert switchlog_bin()
    server = Server(base_env(), tmp_path, "--demo")
    try:
        bearer = token(server.url, "demo", "demo-password")
        headers = {"Authorization": f"Bearer {bearer}"}
        with connect(f"ws://127.0.0.1:{server.port}/v1/call-control/ws?token={bearer}") as ws:
            me = httpx.get(f"{server.url}/v1/calls/active", headers=headers)
            assert me.status_code == 200, me.text
            customer = httpx.get(f"{server.url}/v1/customers", headers=headers).json()["items"][0]
            ws.send(
                json.dumps(
                    {"id": 1, "method": "subscribe", "params": {"customer_id": customer["id"]}}
                )
            )
            assert "result" in json.loads(ws.recv(5))
            frame = json.loads(ws.recv(20))
            while frame.get("method") != "call_info":
                frame = json.loads(ws.recv(20))
            assert frame["params"]["state"] in (
                "trying",
                "ringing",
                "connected",
                "terminated",
                "queued",
            )
        eventually(
            lambda: httpx.get(f"{server.url}/v1/calls/active", headers=headers).json()["items"], 20
        )
        queues = httpx.get(f"{server.url}/v1/call-queues", headers=headers).json()
        assert [q["name"] for q in queues] == ["Demo sales"]
    finally:
        server.stop()
    assert "demo: customer login" in server.output()
