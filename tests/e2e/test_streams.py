"""Following events live over SSE and WebSocket, through a real `switchlog serve`."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from adapters.settings import Settings
from composition.runtime import Runtime
from domain.directory.aggregates import Customer
from domain.shared.actor import Actor, CommandContext, Realm, acting_as
from tests.conftest import eventually
from tests.e2e.processes import Server, base_env
from tests.e2e.streams import StalledEventStream, StalledWebSocket, sse_events, token

ADMIN = {"SWITCHLOG_ADMIN_LOGIN": "root", "SWITCHLOG_ADMIN_PASSWORD": "root-pass-1"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {
        **base_env(),
        **ADMIN,
        "SWITCHLOG_STREAM_BUFFER": "5",
        "SWITCHLOG_STREAM_PATIENCE_SECONDS": "1",
    }
    running = Server(env, tmp_path)
    yield running
    running.stop()


@pytest.fixture
def admin_token(server: Server) -> str:
    return token(server.url, "root", "root-pass-1")


def _post(server: Server, bearer: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}{path}", json=body, headers={"Authorization": f"Bearer {bearer}"}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _customer(server: Server, bearer: str, name: str, **extra: Any) -> dict[str, Any]:
    return _post(
        server,
        bearer,
        "/v1/customers",
        {"name": name, "currency": "EUR", "time_zone": "UTC", **extra},
    )


def _ws(server: Server, bearer: str, **options: Any) -> ClientConnection:
    return connect(f"ws://127.0.0.1:{server.port}/v1/ws?token={bearer}", **options)


def _frames(ws: ClientConnection, kind: str, count: int, timeout: float = 15) -> list[Any]:
    """The next `count` frames of a kind; `events` batches count as one `event` each."""
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(found) < count:
        frame = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        found += [f for f in _unbatched(frame) if f["type"] == kind]
    return found


def _unbatched(frame: dict[str, Any]) -> list[dict[str, Any]]:
    if frame["type"] != "events":
        return [frame]
    return [
        {"type": "event", "subscription": frame["subscription"], "event": event}
        for event in frame["events"]
    ]


def test_sse_delivers_envelopes_and_resumes_from_last_event_id(
    server: Server, admin_token: str
) -> None:
    for i in range(3):
        _customer(server, admin_token, f"SSE {i}")
    first = sse_events(server.url, admin_token, 2, types="Customer.Created", after=0)
    assert [e["event"] for e in first] == ["directory.Customer.Created"] * 2
    assert first[0]["data"]["specversion"] == "1.0"
    assert int(first[0]["id"]) == first[0]["data"]["sequence"]
    _customer(server, admin_token, "SSE 3")
    rest = sse_events(
        server.url, admin_token, 2, types="Customer.Created", last_event_id=first[-1]["id"]
    )
    names = [e["data"]["data"]["name"] for e in rest]
    assert names == ["SSE 2", "SSE 3"]


@pytest.mark.parametrize(
    ("params", "headers", "code"),
    [
        ({"types": "Galaxy.Exploded"}, {}, "invalid_filter"),
        ({"subject": "not-a-uuid"}, {}, "invalid_filter"),
        ({}, {"Last-Event-ID": "yesterday"}, "invalid_filter"),
        ({}, {"Last-Event-ID": "99999999"}, "invalid_filter"),
    ],
    ids=["unknown-type", "bad-subject", "bad-last-event-id", "position-beyond-head"],
)
def test_sse_refuses_bad_filters_and_positions(
    server: Server, admin_token: str, params: dict[str, str], headers: dict[str, str], code: str
) -> None:
    response = httpx.get(
        f"{server.url}/v1/events/stream",
        params=params,
        headers={"Authorization": f"Bearer {admin_token}", **headers},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_customers_only_ever_see_their_own_events(server: Server, admin_token: str) -> None:
    alice = _customer(server, admin_token, "Alice", login="alice", password="password-1")
    bob = _customer(server, admin_token, "Bob", login="bob", password="password-1")
    alice_token = token(server.url, "alice", "password-1")
    forbidden = httpx.get(
        f"{server.url}/v1/events/stream",
        params={"customer": bob["id"]},
        headers={"Authorization": f"Bearer {alice_token}"},
    )
    assert forbidden.status_code == 403

    def produce(customer: dict[str, Any], tag: str) -> None:
        for i in range(15):
            _post(
                server,
                admin_token,
                "/v1/accounts",
                {"customer_id": customer["id"], "login": f"{tag}{i}"},
            )

    seen: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: seen.extend(sse_events(server.url, alice_token, 15)))
    reader.start()
    eventually(lambda: sse_subscribers(server) == 1, timeout=20)
    writers = [threading.Thread(target=produce, args=(c, t)) for c, t in ((alice, "a"), (bob, "b"))]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    reader.join(30)
    assert len(seen) == 15
    assert {e["data"]["data"]["customer_id"] for e in seen} == {alice["id"]}


def test_websocket_subscribe_ping_errors_unsubscribe_and_resume(
    server: Server, admin_token: str
) -> None:
    with _ws(server, admin_token) as ws:
        ws.send(
            json.dumps(
                {"type": "subscribe", "id": "new", "filter": {"types": ["Customer.Created"]}}
            )
        )
        assert _frames(ws, "subscribed", 1)[0]["id"] == "new"
        ws.send("{not json")
        assert _frames(ws, "error", 1)[0]["code"] == "malformed_json"
        ws.send(json.dumps({"type": "subscribe", "id": "bad", "filter": {"types": ["Nope.Nope"]}}))
        assert _frames(ws, "error", 1)[0]["code"] == "invalid_filter"
        ws.send(json.dumps({"type": "subscribe", "id": "far", "after": 10**9}))
        assert _frames(ws, "error", 1)[0]["code"] == "invalid_filter"
        ws.send(json.dumps({"type": "ping", "id": 42}))
        assert _frames(ws, "pong", 1)[0]["id"] == 42  # still usable after bad input
        created = _customer(server, admin_token, "Live")
        event = _frames(ws, "event", 1)[0]
        assert event["subscription"] == "new"
        assert event["event"]["subject"] == created["id"]
        ws.send(json.dumps({"type": "unsubscribe", "id": "new"}))
        assert _frames(ws, "unsubscribed", 1)[0]["id"] == "new"
        position = event["event"]["sequence"]
    _customer(server, admin_token, "While away")
    with _ws(server, admin_token) as ws:
        ws.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "id": "back",
                    "after": position,
                    "filter": {"types": ["Customer.Created"]},
                }
            )
        )
        missed = _frames(ws, "event", 1)[0]
        assert missed["event"]["data"]["name"] == "While away"
    assert "/v1/ws?token=***" in server.output()
    assert admin_token not in server.output()  # tokens in URLs stay out of the logs


def test_websocket_rejects_a_bad_token(server: Server) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:  # closed before accept: HTTP 403
        _ws(server, "not-a-token")
    assert refused.value.response.status_code == 403


def _flood(tmp_path: Path, count: int) -> None:
    """Append `count` customer events straight to the server's store, in big batches."""
    runtime = Runtime(
        Settings(store_url=f"sqlite:///{tmp_path}/var/switchlog.db", var_dir=tmp_path / "var")
    )
    actor = Actor(id="flood", realm=Realm.SYSTEM, role="test")
    try:
        for start in range(0, count, 250):
            with acting_as(CommandContext(actor)):
                batch = [
                    Customer(
                        name=f"flood-{start + i}-" + "x" * 60,
                        currency="EUR",
                        time_zone="UTC",
                        reseller_id=None,
                        login=None,
                        password_hash=None,
                    )
                    for i in range(250)
                ]
            runtime.directory.save(*batch)
    finally:
        runtime.close()


def test_slow_websocket_client_is_cut_off_and_resumes_without_loss(
    server: Server, admin_token: str, tmp_path: Path
) -> None:
    total = 12_000  # more than the kernel's socket buffers hold
    start = int(httpx.get(f"{server.url}/healthz").json()["log_position"])
    subscribe = {
        "type": "subscribe",
        "id": "all",
        "after": start,
        "filter": {"types": ["Customer.Created"]},
    }

    slow = StalledWebSocket(server.port, f"/v1/ws?token={admin_token}")
    slow.send(json.dumps(subscribe))
    fast_seen: list[int] = []
    with _ws(server, admin_token) as fast:
        fast.send(json.dumps(subscribe))
        _flood(tmp_path, total)
        started = time.monotonic()
        fast_seen = [f["event"]["sequence"] for f in _frames(fast, "event", total, timeout=60)]
        fast_seconds = time.monotonic() - started
    assert len(fast_seen) == total and fast_seen == sorted(fast_seen)
    assert fast_seconds < 30

    received, close_code = slow.read_all()
    frames = [f for frame in received for f in _unbatched(frame)]
    events = [f["event"]["sequence"] for f in frames if f["type"] == "event"]
    assert events == fast_seen[: len(events)]  # in order, nothing skipped
    # The goodbye is best-effort, as on SSE: a client whose socket stays full past the write
    # timeout (or the keepalive's) is dropped without it. Either way it resumes losslessly.
    if close_code == 4008:
        assert received[-1]["type"] == "disconnect" and received[-1]["reason"] == "slow_consumer"
        assert len(events) < total
    else:
        assert close_code in (1006, 1011, None), close_code
    resume_from = events[-1]
    with _ws(server, admin_token) as again:
        again.send(json.dumps({**subscribe, "after": resume_from}))
        rest = [
            f["event"]["sequence"] for f in _frames(again, "event", total - len(events), timeout=60)
        ]
    assert events + rest == fast_seen


def sse_subscribers(server: Server) -> float:
    """Live SSE subscribers, as the server's own metrics count them."""
    text = httpx.get(f"{server.url}/metrics").text
    found = re.search(r'^switchlog_stream_subscribers\{channel="sse"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_slow_sse_client_is_cut_off_and_resumes_without_loss(
    server: Server, admin_token: str, tmp_path: Path
) -> None:
    total = 12_000
    start = int(httpx.get(f"{server.url}/healthz").json()["log_position"])
    slow = StalledEventStream(
        server.port, f"/v1/events/stream?types=Customer.Created&after={start}", admin_token
    )
    eventually(lambda: sse_subscribers(server) == 1, timeout=20)
    _flood(tmp_path, total)
    # Stay stalled until the server gives up on us (its patience is 1 s here).
    eventually(lambda: sse_subscribers(server) == 0, timeout=60)
    received = slow.read_all(limit=total)
    got = [int(e["id"]) for e in received if e["event"] == "directory.Customer.Created"]
    assert 0 < len(got) < total, "the stalled client was neither cut off nor sent anything"
    assert got == sorted(set(got))
    # The reason is best-effort: a socket that is full may not take even that last frame.
    ends = [e for e in received if e["event"] == "disconnect"]
    if ends:
        assert ends[-1]["data"]["reason"] == "slow_consumer"
        assert ends[-1]["data"]["resume_after"] == got[-1]
    rest = sse_events(
        server.url,
        admin_token,
        total - len(got),
        timeout=60,
        types="Customer.Created",
        last_event_id=got[-1],
    )
    everything = got + [int(e["id"]) for e in rest]
    assert len(everything) == total and everything == sorted(set(everything))
