"""Clients for the live event endpoints, as a subscriber would write them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx


def token(url: str, login: str, password: str) -> str:
    response = httpx.post(f"{url}/v1/auth/token", data={"username": login, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def sse_events(
    url: str, bearer: str, count: int, timeout: float = 20, **params: Any
) -> list[dict[str, Any]]:
    """The first `count` SSE events (id, event, data) of a stream."""
    headers = {"Authorization": f"Bearer {bearer}"}
    if "last_event_id" in params:
        headers["Last-Event-ID"] = str(params.pop("last_event_id"))
    events: list[dict[str, Any]] = []
    with httpx.stream(
        "GET", f"{url}/v1/events/stream", params=params, headers=headers, timeout=timeout
    ) as response:
        assert response.status_code == 200, response.read()
        for event in _parse(response.iter_lines()):
            events.append(event)
            if len(events) >= count:
                break
    return events


def _parse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    current: dict[str, Any] = {}
    for line in lines:
        if not line:
            if "data" in current:
                current["data"] = json.loads(current["data"])
                yield current
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            current[name] = value


class StalledWebSocket:
    """A WebSocket client that stops reading, with a tiny receive buffer: a truly slow reader.

    Built on the sans-I/O protocol of `websockets`, because its threaded client keeps
    reading the socket into memory whatever its queue size.
    """

    def __init__(self, port: int, path: str) -> None:
        import socket

        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        self.protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}{path}"))
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        while self.protocol.handshake_exc is None and not self.protocol.events_received():
            self.protocol.receive_data(self.sock.recv(4096))
        self.pending: list[Any] = []

    def _flush(self) -> None:
        self.sock.sendall(b"".join(self.protocol.data_to_send()))

    def send(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self._flush()

    def read_all(self, timeout: float = 30) -> tuple[list[dict[str, Any]], int | None]:
        """Every text frame until the server closes (or goes idle); and the close code."""
        from websockets.frames import Close, Opcode

        self.sock.settimeout(timeout)
        frames: list[dict[str, Any]] = []
        while True:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return frames, None
            if not data:
                return frames, None
            self.protocol.receive_data(data)
            for frame in self.protocol.events_received():
                if frame.opcode is Opcode.TEXT:
                    frames.append(json.loads(frame.data))
                elif frame.opcode is Opcode.CLOSE:
                    return frames, Close.parse(frame.data).code


class StalledEventStream:
    """An SSE client that stops reading, with a tiny receive buffer (h11 parses the reply)."""

    def __init__(self, port: int, target: str, bearer: str) -> None:
        import socket

        import h11

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        self.http = h11.Connection(our_role=h11.CLIENT)
        request = h11.Request(
            method="GET",
            target=target,
            headers=[("host", "127.0.0.1"), ("authorization", f"Bearer {bearer}")],
        )
        self.sock.sendall(self.http.send(request) + self.http.send(h11.EndOfMessage()))

    def read_all(self, limit: int, timeout: float = 30) -> list[dict[str, Any]]:
        """SSE events until the server ends the response, closes, goes quiet, or `limit`."""
        import h11

        self.sock.settimeout(timeout)
        text = ""
        while True:
            try:
                event = self.http.next_event()
            except h11.RemoteProtocolError:  # the server closed mid-body: the stream is over
                break
            if event is h11.NEED_DATA:
                try:
                    self.http.receive_data(self.sock.recv(65536))
                except TimeoutError:
                    break
            elif isinstance(event, h11.Data):
                text += bytes(event.data).decode()
                if ("\n" + text).count("\nid: ") >= limit:  # never cut off
                    break
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        return list(_parse(iter(text.split("\n"))))
