"""The call control WebSocket through a real `switchlog serve`: heartbeats, inactivity,
tokens kept out of the logs."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.processes import Server, base_env
from tests.e2e.streams import token

ADMIN = {"SWITCHLOG_ADMIN_LOGIN": "root", "SWITCHLOG_ADMIN_PASSWORD": "root-pass-1"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {
        **base_env(),
        **ADMIN,
        "SWITCHLOG_CALL_CONTROL_PING_INTERVAL_SECONDS": "0.3",
        "SWITCHLOG_CALL_CONTROL_HEARTBEAT_TIMEOUT_SECONDS": "0.5",
        "SWITCHLOG_CALL_CONTROL_INACTIVITY_TIMEOUT_SECONDS": "1.5",
    }
    running = Server(env, tmp_path)
    yield running
    running.stop()


def _url(server: Server, bearer: str) -> str:
    return f"ws://127.0.0.1:{server.port}/v1/call-control/ws?token={bearer}"


def test_a_client_that_never_answers_pings_is_dropped_on_time(server: Server) -> None:
    from websockets.client import ClientProtocol
    from websockets.uri import parse_uri

    bearer = token(server.url, "root", "root-pass-1")
    sock = socket.create_connection(("127.0.0.1", server.port))
    protocol = ClientProtocol(parse_uri(_url(server, bearer)))
    protocol.send_request(protocol.connect())
    sock.sendall(b"".join(protocol.data_to_send()))
    while not protocol.events_received() and protocol.handshake_exc is None:
        protocol.receive_data(sock.recv(4096))
    assert protocol.handshake_exc is None
    started = time.monotonic()
    sock.settimeout(10)
    while sock.recv(65536):  # read pings, never answer them (no pong is ever flushed)
        pass
    # dropped by the heartbeat (0.3 s interval + 0.5 s timeout), before the 1.5 s inactivity
    assert time.monotonic() - started < 1.4


def test_a_silent_client_is_closed_after_the_inactivity_timeout_and_ping_renews_it(
    server: Server,
) -> None:
    bearer = token(server.url, "root", "root-pass-1")
    with connect(_url(server, bearer)) as lively, connect(_url(server, bearer)) as silent:
        started = time.monotonic()
        for n in range(8):  # 2.4 s of pings, well past the 1.5 s timeout
            lively.send(json.dumps({"id": n, "method": "ping"}))
            assert json.loads(lively.recv(5)) == {"id": n, "result": {"pong": True}}
            time.sleep(0.3)
        with pytest.raises(ConnectionClosed) as closed:
            silent.recv(5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408
        assert time.monotonic() - started > 1.4
        lively.send(json.dumps({"id": "last", "method": "ping"}))
        assert json.loads(lively.recv(5))["id"] == "last"  # answered RFC pings kept it up


def test_the_token_in_the_query_string_never_reaches_the_logs(server: Server) -> None:
    bearer = token(server.url, "root", "root-pass-1")
    with connect(_url(server, bearer)) as ws:
        ws.send(json.dumps({"id": 1, "method": "ping"}))
        ws.recv(5)
    with connect(
        f"ws://127.0.0.1:{server.port}/v1/call-control/ws",
        additional_headers={"Authorization": f"Bearer {bearer}"},
    ) as ws:
        ws.send(json.dumps({"id": 2, "method": "ping"}))
        assert json.loads(ws.recv(5))["result"] == {"pong": True}
    time.sleep(0.2)
    output = server.output()
    assert "/v1/call-control/ws" in output
    assert bearer not in output
