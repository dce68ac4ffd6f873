"""`switchlog webhooks`: run deliveries, list dead letters, queue them again."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.store import open_runtime, until_signalled, worker_runtime

webhooks_app = typer.Typer(help="Webhook deliveries: run, inspect, redeliver", no_args_is_help=True)
console = Console()


@webhooks_app.command("deliver")
def webhooks_deliver() -> None:
    """Deliver the webhook outbox as its own process, until stopped."""
    rt = worker_runtime()
    deliverer = rt.deliverer()
    try:
        deliverer.run(until_signalled())
    finally:
        deliverer.close()
        rt.close()


@webhooks_app.command("failed")
def webhooks_failed(
    endpoint: Annotated[str | None, typer.Option(help="Only this endpoint id")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Dead-lettered deliveries: retries ran out."""
    rt = open_runtime(create=False)
    try:
        rt.runner.catch_up(["webhooks"])
        rows = rt.deliverer().deliveries("failed", endpoint)
    finally:
        rt.close()
    if as_json:
        for row in rows:
            typer.echo(json.dumps({k: v for k, v in row.items() if k != "payload"}))
        return
    table = Table("endpoint", "message", "type", "attempts", "last status", "last error")
    for row in rows:
        table.add_row(
            row["endpoint_id"],
            row["message_id"],
            row["event_type"],
            str(row["attempts"]),
            str(row["last_status"]),
            (row["last_error"] or "")[:60],
        )
    console.print(table)


@webhooks_app.command("redeliver")
def webhooks_redeliver(
    endpoint: Annotated[str | None, typer.Option(help="Only this endpoint id")] = None,
    message: Annotated[str | None, typer.Option(help="Only this webhook-id")] = None,
) -> None:
    """Queue dead-lettered deliveries again, with a fresh retry schedule."""
    rt = open_runtime(create=False)
    try:
        count = rt.deliverer().redeliver(endpoint, message)
    finally:
        rt.close()
    console.print(f"{count} deliveries queued again")
