"""`switchlog individuals`: send the credentials emails of new individuals, list them."""

from __future__ import annotations

import json
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapters.smtp import CredentialsDeliverer, deliverer_for
from cli.store import fail, open_runtime, until_signalled, worker_runtime
from composition.runtime import Runtime

individuals_app = typer.Typer(
    help="Customer individuals: their credentials emails", no_args_is_help=True
)
console = Console()


def credentials_deliverer(rt: Runtime) -> CredentialsDeliverer:
    return deliverer_for(rt.settings, rt.db, rt.secrets, rt.clock)


class EmailsInProcess:
    """`serve`'s own credentials-email deliverer, in a daemon thread until stopped."""

    def __init__(self, rt: Runtime) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=credentials_deliverer(rt).run,
            args=(self._stop,),
            name="credentials-emails",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@individuals_app.command("deliver")
def individuals_deliver() -> None:
    """Send the credentials emails as their own process, until stopped."""
    rt = worker_runtime()
    try:
        if not rt.settings.smtp_host:
            fail("SWITCHLOG_SMTP_HOST is not set: there is no SMTP server to send through")
        credentials_deliverer(rt).run(until_signalled())
    finally:
        rt.close()


@individuals_app.command("emails")
def individuals_emails(
    status: Annotated[str | None, typer.Option(help="pending, sent or cancelled")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The credentials emails outbox: what was sent, and what is still being retried."""
    rt = open_runtime(create=False)
    try:
        rt.runner.catch_up(["credentials_emails"])
        with rt.db.transaction(readonly=True) as tx:
            sql = "SELECT * FROM credentials_emails"
            rows = tx.fetchall(
                sql + (" WHERE status = %s" if status else "") + " ORDER BY position",
                [status] if status else [],
            )
    finally:
        rt.close()
    rows = [{k: v for k, v in row.items() if k != "token"} for row in rows]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    table = Table("individual", "login", "to", "status", "attempts", "last error")
    for row in rows:
        table.add_row(
            row["individual_id"],
            row["login"],
            row["recipient"],
            row["status"],
            str(row["attempts"]),
            (row["last_error"] or "")[:60],
        )
    console.print(table)
