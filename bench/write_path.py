"""The write path at telecom rates: each figure beside its raw baseline from the same run.

    python -m bench.write_path [--skip-postgres] [--skip-kafka] [--skip-api] [--postgres-url URL]

- commands through the application service, 32 concurrent writers, beside raw single-row
  transactions (same durability: SQLite WAL + synchronous=FULL, PostgreSQL
  synchronous_commit=on);
- the PostgreSQL batched append beside a raw COPY of the same rows;
- catch-up of all read models together beside a raw SELECT of the log;
- Kafka: the relay beside a raw confluent-kafka produce, Kafka-fed read models, and
  append -> WebSocket latency at 1,000 events/s (bench/kafka.py);
- the API under wrk (a C load generator in its own process, 32 connections), beside a bare
  route served by the same process.

Not part of the test suite's pass/fail: it prints figures.
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from adapters.settings import Settings
from adapters.sql import sqlite_path
from bench.run import ACTORS, Row, _customers, _postgres_factory, _raw_read, _shown, _stored_rows
from composition.runtime import Runtime
from domain.shared.actor import CommandContext

WRITERS = 32
RAW_DDL = (
    "CREATE TABLE raw_events (notification_id {serial}, originator_id TEXT,"
    " originator_version INTEGER, topic TEXT, state {blob},"
    " PRIMARY KEY (originator_id, originator_version))"
)


@contextmanager
def _runtime(url: str, scratch: Path) -> Iterator[Runtime]:
    rt = Runtime(Settings(store_url=url, var_dir=scratch / "var", projections_in_process=False))
    try:
        yield rt
    finally:
        rt.close()


def _p99(seconds: list[float]) -> float:
    return statistics.quantiles([s * 1000 for s in seconds], n=100)[98]


def commands(store: str, url: str, scratch: Path, per_writer: int = 150) -> list[Row]:
    """Customers created by 32 threads at once through the directory service."""
    with _runtime(url, scratch) as rt:
        ctx = CommandContext(ACTORS[0])
        rt.directory.create_customer(ctx, "warm-up", "EUR", "UTC")
        took: list[list[float]] = [[] for _ in range(WRITERS)]
        start = threading.Barrier(WRITERS + 1)
        tag = secrets.token_hex(3)

        def writer(w: int) -> None:
            start.wait()
            for i in range(per_writer):
                began = time.perf_counter()
                rt.directory.create_customer(ctx, f"w{w}-{i}-{tag}", "EUR", "UTC")
                took[w].append(time.perf_counter() - began)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        rate = WRITERS * per_writer / (time.perf_counter() - began)
        latencies = [t for ts in took for t in ts]
        raw_rate, raw_p99 = _raw_single_rows(store, rt)
    return [
        Row(store, "commands, 32 writers", rate, "commands/s", raw_rate, "raw 1-row txns"),
        Row(store, "commands, 32 writers, p99", _p99(latencies), "ms"),
        Row(store, "raw 1-row transaction p99", raw_p99, "ms"),
    ]


def _raw_single_rows(store: str, rt: Runtime, count: int = 1000) -> tuple[float, float]:
    """One writer committing one row per transaction, as durable as the store."""
    rows = _stored_rows(rt, _customers(count, 0))
    took = []
    if store == "sqlite":
        connection = sqlite3.connect(sqlite_path(rt.settings.store_url), isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(RAW_DDL.format(serial="INTEGER", blob="BLOB"))
        began = time.perf_counter()
        for row in rows:
            one = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT INTO raw_events (originator_id, originator_version, topic, state)"
                " VALUES (?, ?, ?, ?)",
                row,
            )
            connection.execute("COMMIT")
            took.append(time.perf_counter() - one)
        elapsed = time.perf_counter() - began
        connection.close()
    else:
        with psycopg.connect(rt.settings.store_url) as connection:
            connection.execute(RAW_DDL.format(serial="BIGSERIAL", blob="BYTEA"))
            connection.commit()
            began = time.perf_counter()
            for row in rows:
                one = time.perf_counter()
                connection.execute(
                    "INSERT INTO raw_events (originator_id, originator_version, topic, state)"
                    " VALUES (%s, %s, %s, %s)",
                    row,
                )
                connection.commit()
                took.append(time.perf_counter() - one)
            elapsed = time.perf_counter() - began
    return len(rows) / elapsed, _p99(took)


def postgres_batched(url: str, scratch: Path, events: int) -> list[Row]:
    """Batches of 1,000 events through the recorder, beside COPY of the same rows."""
    with _runtime(url, scratch) as rt:
        customers = _customers(events // 10, 9)
        began = time.perf_counter()
        for chunk in range(0, len(customers), 100):
            rt.directory.save(*customers[chunk : chunk + 100])
        rate = events / (time.perf_counter() - began)
        rows = _stored_rows(rt, _customers(events // 10, 9))
        with psycopg.connect(rt.settings.store_url) as connection:
            connection.execute(RAW_DDL.format(serial="BIGSERIAL", blob="BYTEA"))
            connection.commit()
            began = time.perf_counter()
            for chunk in range(0, len(rows), 1000):
                with (
                    connection.cursor() as cursor,
                    cursor.copy(
                        "COPY raw_events (originator_id, originator_version, topic, state)"
                        " FROM STDIN"
                    ) as copy,
                ):
                    for row in rows[chunk : chunk + 1000]:
                        copy.write_row(row)
                connection.commit()
            raw = len(rows) / (time.perf_counter() - began)
    return [Row("postgresql", "append, 1000 events/txn", rate, "events/s", raw, "raw COPY")]


def catch_up_all(store: str, url: str, scratch: Path, events: int) -> list[Row]:
    """Every read model rebuilt together from one read of each batch."""
    with _runtime(url, scratch) as rt:
        customers = _customers(events // 10, 9)
        for chunk in range(0, len(customers), 100):
            rt.directory.save(*customers[chunk : chunk + 100])
        head = rt.source.max_position()
        raw = _raw_read(rt, head, rt.settings.projection_batch_size)
        names = list(rt.runner.projections)
        rt.runner.reset(names)
        began = time.perf_counter()
        rt.runner.catch_up(names)
        rate = head / (time.perf_counter() - began)
    what = f"catch-up, all {len(names)} read models together"
    return [Row(store, what, rate, "events/s", raw, "raw SELECT of the log")]


# -- the API under wrk ----------------------------------------------------------------
POST_SCRIPT = """
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  counter = 0
end
request = function()
  counter = counter + 1
  local body = string.format(
    '{"name":"wrk-%s-%d-%d","currency":"EUR","time_zone":"UTC"}', tag, id, counter)
  return wrk.format("POST", nil, nil, body)
end
"""


def _wrk(url: str, token: str, scratch: Path, script: str | None = None) -> tuple[float, float]:
    """Requests/s and p99 (ms) of 10 s of wrk, 2 threads, 32 connections."""
    command = ["wrk", "-t2", "-c32", "-d10s", "--latency", "-H", f"Authorization: Bearer {token}"]
    if script is not None:
        path = scratch / f"wrk-{secrets.token_hex(4)}.lua"
        tag = secrets.token_hex(4)
        path.write_text(
            f'tag = "{tag}"\nwrk.headers["Content-Type"] = "application/json"\n' + script
        )
        command += ["-s", str(path)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} failed requests:\n{out}")
    return rate, p99


def api(scratch: Path, postgres_url: str | None, console: Console) -> list[Row]:
    from bench.deployments import embedded, postgres

    if shutil.which("wrk") is None:
        console.print("[yellow]wrk is not installed (apt-get install wrk): API figures skipped")
        return []
    deployments: list[tuple[str, Callable[[], object]]] = [
        ("sqlite", lambda: embedded(scratch / "api-embedded"))
    ]
    if postgres_url is not None:
        deployments.append(("postgresql", lambda: postgres(scratch / "api-postgres", postgres_url)))
    rows = []
    for store, start in deployments:
        with start() as running:  # type: ignore[attr-defined]
            running.warm_up()
            token = running.token()
            customer = _first_customer(running.url, token)
            bare_rate, bare_p99 = _wrk(f"{running.url}/livez", token, scratch)
            get_rate, get_p99 = _wrk(f"{running.url}/v1/customers/{customer}", token, scratch)
            post_rate, post_p99 = _wrk(f"{running.url}/v1/customers", token, scratch, POST_SCRIPT)
        console.print(f"  {store}: bare route {bare_rate:,.0f}/s, p99 {bare_p99:.1f} ms")
        rows += [
            Row(store, "API GET /v1/customers/{id}", get_rate, "req/s", bare_rate, "bare route"),
            Row(store, "API GET p99", get_p99, "ms"),
            Row(store, "API POST /v1/customers", post_rate, "req/s", bare_rate, "bare route"),
            Row(store, "API POST p99", post_p99, "ms"),
        ]
    return rows


def _first_customer(url: str, token: str) -> str:
    import httpx

    response = httpx.get(
        f"{url}/v1/customers", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    response.raise_for_status()
    return str(response.json()["items"][0]["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-kafka", action="store_true")
    parser.add_argument("--skip-api", action="store_true")
    args = parser.parse_args()
    console = Console()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        stores: dict[str, Callable[[str], str]] = {
            "sqlite": lambda name: f"sqlite:///{scratch}/{name}.db"
        }
        server = None
        if not args.skip_postgres:
            stores["postgresql"] = _postgres_factory(args.postgres_url, scratch)
            server = stores["postgresql"]("api")
        for store, url_for in stores.items():
            console.print(f"[bold]{store}[/]: 32 concurrent writers")
            rows += _shown(console, commands(store, url_for("commands"), scratch))
            console.print(f"[bold]{store}[/]: catch-up of every read model")
            rows += _shown(console, catch_up_all(store, url_for("catchup"), scratch, args.events))
        if "postgresql" in stores:
            console.print("[bold]postgresql[/]: batched append")
            url = stores["postgresql"]("batched")
            rows += _shown(console, postgres_batched(url, scratch, args.events))
        if not args.skip_kafka:
            from bench.kafka import run_kafka

            rows += _shown(console, run_kafka(args.events, scratch, console))
        if not args.skip_api:
            console.print("[bold]API[/] under wrk")
            rows += _shown(console, api(scratch, server, console))
    table = Table("store", "measure", "switchlog", "raw baseline", "ratio", title="write path")
    for r in rows:
        base = f"{r.baseline:,.1f} {r.unit} ({r.baseline_what})" if r.baseline else ""
        table.add_row(r.store, r.what, f"{r.figure:,.1f} {r.unit}", base, r.ratio)
    Console(width=max(console.width, 150)).print(table)


if __name__ == "__main__":
    main()
