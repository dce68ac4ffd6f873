"""The `switchlog` command: serve, admin, audit, projections, project, relay, replay, bench."""

from __future__ import annotations

import errno
import gc
import json
import logging
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from adapters.observability import configure_logging
from adapters.settings import Settings
from cli.audit_table import audit_table
from cli.individuals import EmailsInProcess
from cli.store import describe, fail, open_runtime, until_signalled, warn, worker_runtime
from composition.contexts import CONTEXTS
from composition.runtime import Runtime
from domain.shared.actor import Realm
from domain.shared.aggregate import as_utc
from domain.shared.errors import DomainError
from projections.audit import AuditFilter

app = typer.Typer(
    help="switchlog: event-sourced cloud PBX and billing backend", no_args_is_help=True
)
projections_app = typer.Typer(help="Inspect and rebuild read models", no_args_is_help=True)
app.add_typer(projections_app, name="projections")
for context in CONTEXTS:
    for name, sub_app in context.cli():
        app.add_typer(sub_app, name=name)
console = Console()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    demo: Annotated[
        bool, typer.Option(help="Seed a demo tenant and keep scripted calls flowing")
    ] = False,
) -> None:
    """Run the API (and, by default, the projections) on the configured store."""
    import uvicorn

    from api.app import create_app

    listener = _listen(host, port)
    configure_logging()
    logging.getLogger("uvicorn.access").addFilter(_RedactTokens())
    logging.getLogger("uvicorn.error").addFilter(_RedactTokens())
    rt = open_runtime(create=True)
    settings = rt.settings
    emails: EmailsInProcess | None = None
    try:
        password = rt.bootstrap_admin(warn)
        if rt.rebuilding:
            warn(f"schema changed, read models rebuild from the log: {', '.join(rt.rebuilding)}")
        if settings.webhooks_in_process:
            rt.start_webhooks()
        if settings.smtp_host and settings.emails_in_process:
            emails = EmailsInProcess(rt)
        if settings.kafka_bootstrap and settings.relay_in_process:
            rt.start_relay()
            console.print(f"relay: publishing to {settings.kafka_bootstrap} {settings.kafka_topic}")
        application = create_app(settings, rt)
        if demo:
            from composition import demo as demo_tenant

            demo_tenant.start(rt, console.print)
        console.print(f"switchlog serving on [bold]{_url(host, listener)}[/] (docs at /docs)")
        if password:
            login = settings.admin_login or "admin"
            console.print(
                f"admin login: [bold]{login}[/]  password: [bold]{password}[/] (shown once)"
            )
        _quiet_gc()
        # The "websockets" implementation waits for the socket to drain; the default sans-I/O
        # one buffers without bound, which would hide a slow WebSocket client from us.
        # Compression is off: a fan-out server would deflate the same frame once per
        # subscriber, which costs more CPU than everything else on the path together.
        # RFC 6455 pings on every WebSocket; a client whose pong is late is dropped.
        config = uvicorn.Config(
            application,
            log_level="info",
            ws="websockets",
            ws_per_message_deflate=False,
            ws_ping_interval=settings.call_control_ping_interval_seconds,
            ws_ping_timeout=settings.call_control_heartbeat_timeout_seconds,
        )
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        if emails is not None:
            emails.stop()
        rt.close()
        listener.close()


def _listen(host: str, port: int) -> socket.socket:
    """Take the port before saying where we serve, so a busy port is a one-line error."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as error:
        listener.close()
        busy = error.errno == errno.EADDRINUSE
        hint = " (another process listens there; pick another --port)" if busy else ""
        fail(f"cannot listen on {_host_port(host, port)}: {error.strerror or error}{hint}")
    return listener


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _url(host: str, listener: socket.socket) -> str:
    return f"http://{_host_port(host, listener.getsockname()[1])}"


def _quiet_gc() -> None:
    """Fewer garbage-collector passes in a long-lived server that streams events.

    With CPython's default thresholds the collector ran so often under fan-out (each frame
    allocates) that its passes set the streams' p99: 100 WebSocket subscribers at 1k
    events/s saw p99 120-270 ms, and about 45-60 ms once the startup heap is frozen (never
    scanned again) and a young collection waits for 50k allocations instead of 700.
    Cycles are still collected; only less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


class _RedactTokens(logging.Filter):
    """WebSocket clients may pass their JWT as ?token=...: keep it out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                re.sub(r"token=[^&\s\"]+", "token=***", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


@app.command()
def audit(
    subject: Annotated[str | None, typer.Option(help="Aggregate id, or a name/login")] = None,
    actor: Annotated[str | None, typer.Option(help="Actor id or login")] = None,
    realm: Annotated[Realm | None, typer.Option(help="Actor realm")] = None,
    type: Annotated[str | None, typer.Option("--type", help="Event type")] = None,
    since: Annotated[
        datetime | None, typer.Option(help="From this time (UTC if no offset)")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Before this time")] = None,
    after: Annotated[int | None, typer.Option(help="Continue after this log position")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    oldest_first: Annotated[bool, typer.Option("--oldest-first")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Who changed what: filter the log by subject, actor, realm, type and time."""
    try:
        question = AuditFilter(
            subject=subject,
            actor=actor,
            realm=realm.value if realm else None,
            type=type,
            since=as_utc(since),
            until=as_utc(until),
            after=after,
            limit=limit,
            newest_first=not oldest_first,
        )
    except DomainError as error:  # an unknown type, a position or time out of range
        fail(error.detail)
    rt = open_runtime(create=False)
    try:
        rt.runner.catch_up(["audit"])
        items, next_position = rt.audit.search(question)
    finally:
        rt.close()
    if as_json:
        for item in items:
            typer.echo(json.dumps(item))
        return
    console.print(audit_table(items, console.width))
    if next_position is not None:
        console.print(f"more: --after {next_position}")


@projections_app.command("status")
def projections_status() -> None:
    """Each projection's position and lag behind the log."""
    rt = open_runtime(create=False)
    try:
        statuses = rt.runner.status()
    finally:
        rt.close()
    table = Table("projection", "position", "log head", "lag")
    for s in statuses:
        table.add_row(s.name, str(s.position), str(s.head), str(s.lag))
    console.print(table)


@projections_app.command("rebuild")
def projections_rebuild(name: Annotated[str, typer.Argument(help="Projection name")]) -> None:
    """Drop a read model and rebuild it from the start of the log."""
    rt = open_runtime(create=False)
    try:
        rt.runner.get(name)
    except KeyError as error:
        rt.close()
        fail(error.args[0])
    try:
        applied = _with_progress(rt, [name], lambda advance: rt.runner.rebuild(name, advance))
    finally:
        rt.close()
    console.print(f"{name}: rebuilt from {applied} events")


def _with_progress(
    rt: Runtime, names: list[str], work: Callable[[Callable[[int, int], None]], int]
) -> int:
    """Run a rebuild or catch-up of `names`, showing a progress bar over the log."""
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"rebuilding {', '.join(names)}", total=rt.source.max_position())

        def advance(position: int, head: int) -> None:
            progress.update(task, completed=position, total=head)

        applied = work(advance)
        progress.update(task, completed=min(rt.runner.position(n) for n in names))
    return applied


def _rebuild_stale(rt: Runtime) -> None:
    """Read models whose schema version changed rebuild before the process follows the log."""
    if rt.rebuilding:
        warn(f"schema changed, rebuilding from the log: {', '.join(rt.rebuilding)}")
        _with_progress(
            rt, rt.rebuilding, lambda advance: rt.runner.catch_up(rt.rebuilding, advance)
        )


class Source(StrEnum):
    store = "store"
    kafka = "kafka"


@app.command()
def project(
    source: Annotated[Source, typer.Option(help="Read the store's log, or Kafka")] = Source.store,
    once: Annotated[bool, typer.Option(help="Catch up, then exit (store source)")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between polls of the log")] = 0.5,
) -> None:
    """Run the projections as their own process, following the log until stopped."""
    if source is Source.kafka:
        _require_kafka()
    rt = worker_runtime()
    stop = until_signalled()
    try:
        if source is Source.kafka:
            if rt.rebuilding:
                warn(f"schema changed, rebuilding from Kafka: {', '.join(rt.rebuilding)}")
            rt.run_kafka_projectors(stop)
            return
        _rebuild_stale(rt)
        if once:
            applied = rt.runner.catch_up()
            console.print(f"applied {applied} events")
        else:
            rt.runner.run(stop, poll)
    finally:
        rt.close()


def _require_kafka() -> None:
    if not Settings().kafka_bootstrap:
        fail("Kafka is not configured: set SWITCHLOG_KAFKA_BOOTSTRAP=host:port[,host:port...]")


@app.command()
def relay() -> None:
    """Publish the log to Kafka; a second relay waits and takes over if the first dies."""
    _require_kafka()
    rt = worker_runtime()
    stop = until_signalled()
    try:
        rt.relay().run(stop)
    finally:
        rt.close()


@app.command()
def replay(
    since: Annotated[datetime, typer.Option(help="Window start (UTC if no offset)")],
    until: Annotated[datetime, typer.Option(help="Window end, exclusive")],
    source: Annotated[
        Source, typer.Option(help="The store's log, or Kafka (seek by time)")
    ] = Source.store,
    into: Annotated[
        str | None, typer.Option(help="Scratch read-model database URL (default: a new file)")
    ] = None,
) -> None:
    """Replay a time window into a scratch read model, e.g. to examine one billing period."""
    start, end = as_utc(since), as_utc(until)
    if start is None or end is None or start >= end:
        fail("--since must be before --until")
    target = into or f"sqlite:///var/replay-{datetime.now(UTC):%Y%m%dT%H%M%S}.db"
    rt = open_runtime(create=False)
    try:
        counts = rt.replay(start, end, target, from_kafka=source is Source.kafka)
    except Exception as error:  # Kafka unset or unreachable, a bad --into URL: one line each
        fail(f"replay from {source.value} failed: {_first_line(error)}")
    finally:
        rt.close()
    console.print(f"replayed {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} (UTC)")
    table = Table("read model", "rows")
    for name, rows in counts.items():
        table.add_row(name, str(rows))
    console.print(table)
    console.print(f"scratch read model: {describe(target)}")


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@app.command()
def bench(
    events: Annotated[int, typer.Option(help="Events for the append and catch-up runs")] = 100_000,
    audit_events: Annotated[int, typer.Option(help="Log size for audit latency")] = 1_000_000,
    postgres_url: Annotated[
        str | None, typer.Option(help="PostgreSQL URL; an embedded server is started if unset")
    ] = None,
    skip_postgres: Annotated[bool, typer.Option(help="Only measure SQLite")] = False,
    kafka: Annotated[
        bool, typer.Option(help="Also relay, Kafka-fed projections, WS latency")
    ] = False,
    only_kafka: Annotated[bool, typer.Option(help="Only the Kafka and streaming figures")] = False,
    deployments: Annotated[
        bool, typer.Option(help="Only write latency: embedded beside production (PG + Kafka)")
    ] = False,
) -> None:
    """Measure append, catch-up and audit query speed beside raw driver baselines."""
    from bench.run import run

    run(
        events=events,
        audit_events=audit_events,
        postgres_url=postgres_url,
        skip_postgres=skip_postgres,
        console=console,
        kafka=(kafka or only_kafka) and not deployments,
        store_figures=not (only_kafka or deployments),
        deployments=deployments,
    )


def main() -> None:
    app()
