"""`switchlog billing payment` and `switchlog billing funds`: payments from the command line,
and the funds watcher as its own worker (commands of the `billing` sub-app)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console

from cli.admin import operator
from cli.store import fail, open_runtime, until_signalled, worker_runtime
from domain.shared.errors import DomainError

console = Console()


def payment(
    customer: Annotated[UUID, typer.Option(help="The customer's id")],
    amount: Annotated[str, typer.Option(help='A decimal string, e.g. "20.00"')],
    reference: Annotated[str, typer.Option(help="The payment's reference (used once)")],
    note: Annotated[str | None, typer.Option(help="A note kept with the payment")] = None,
    refund: Annotated[bool, typer.Option("--refund", help="Money given back")] = False,
) -> None:
    """Record a payment (a top-up) or a refund for a customer, once per reference."""
    from composition.billing import service

    rt = open_runtime(create=False)
    try:
        made = service(rt).receive_payment(
            operator(), customer, amount, reference, note, "refund" if refund else "payment"
        )
    except DomainError as error:
        fail(error.detail)
    finally:
        rt.close()
    state = "recorded" if made.new else "received before, nothing recorded"
    console.print(f"payment {made.payment_id}: {state}")


def funds(
    once: Annotated[
        bool, typer.Option("--once", help="Watch what is in the log, then exit")
    ] = False,
) -> None:
    """Record customers running out of funds and getting them back (no-funds outages), as
    its own process until stopped (the one in `serve` is turned off with
    SWITCHLOG_BILLING_FUNDS_IN_PROCESS=false)."""
    from composition.balances import watcher

    rt = open_runtime(create=False) if once else worker_runtime()
    try:
        made = watcher(rt)
        if once:
            read = made.catch_up()
            console.print(
                f"funds watched up to log position {made.position()} ({read} events read)"
            )
            return
        made.run(until_signalled())
    finally:
        rt.close()
