"""A webhook receiver on loopback whose behaviour each test chooses, recording every request."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Paths: /ok -> 200, /gone -> 410, /slow -> sleeps past the timeout,
    /flaky/N -> 500 for the first N requests of a message, then 200."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    seen = sum(
                        1
                        for r in receiver.requests
                        if r["path"] == self.path
                        and r["headers"].get("webhook-id") == self.headers.get("webhook-id")
                    )
                status = 200
                if self.path.startswith("/gone"):
                    status = 410
                elif self.path.startswith("/slow"):
                    time.sleep(3)
                elif self.path.startswith("/flaky/"):
                    status = 500 if seen <= int(self.path.rsplit("/", 1)[1]) else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def to(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["path"] == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
