"""`switchlog calls`: active calls, a call's notifications, the state-callback outbox."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.store import open_runtime
from composition import calls
from domain.directory.access import Scope
from domain.shared.actor import Actor

calls_app = typer.Typer(help="Calls: active calls, notifications, callbacks", no_args_is_help=True)
console = Console()
OPERATOR = Scope.of(Actor.system("cli"))


@calls_app.command("active")
def calls_active(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Calls in progress, oldest first (every realm's)."""
    rt = open_runtime(create=False)
    try:
        rt.runner.catch_up(["calls"])
        rows, _next = calls.queries(rt).active(OPERATOR, limit, 0)
    finally:
        rt.close()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    table = Table("call", "tracking id", "state", "legs", "started")
    for row in rows:
        legs = ", ".join(f"{leg['number']} {leg['state']}" for leg in row["legs"])
        table.add_row(row["call_id"], row["tracking_id"], row["state"], legs, row["started_at"])
    console.print(table)


@calls_app.command("events")
def calls_events(call_id: Annotated[str, typer.Argument(help="The call's id")]) -> None:
    """A call's notifications (call_info params), one JSON object a line, by seq."""
    rt = open_runtime(create=False)
    try:
        rt.runner.catch_up(["calls"])
        events = calls.queries(rt).events(call_id)
    finally:
        rt.close()
    for event in events:
        typer.echo(json.dumps(event))


@calls_app.command("callbacks")
def calls_callbacks(call_id: Annotated[str, typer.Argument(help="The call's id")]) -> None:
    """A call's state callbacks: status, attempts, last answer."""
    rt = open_runtime(create=False)
    try:
        rt.runner.catch_up(["call_callbacks"])
        rows = calls.deliverer(rt).outbox(call_id)
    finally:
        rt.close()
    table = Table("seq", "status", "attempts", "last status", "last error")
    for row in rows:
        table.add_row(
            str(row["seq"]),
            row["status"],
            str(row["attempts"]),
            str(row["last_status"]),
            (row["last_error"] or "")[:60],
        )
    console.print(table)
