"""`switchlog billing close | replay | reprocess` (billing part 2), registered on the
`billing` sub-app by cli/billing.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.admin import operator
from cli.store import fail, open_runtime
from domain.billing.xdrs import CUSTOMER, RESELLER
from domain.shared.errors import DomainError

console = Console()


Customer = Annotated[UUID | None, typer.Option(help="The customer's id")]
Reseller = Annotated[
    UUID | None, typer.Option(help="A reseller's id: the operator's invoice to it (instead)")
]


def _party(customer: UUID | None, reseller: UUID | None) -> tuple[UUID, str]:
    if customer is not None and reseller is None:
        return customer, CUSTOMER
    if reseller is not None and customer is None:
        return reseller, RESELLER
    fail("give exactly one of --customer and --reseller")


def close(
    period: Annotated[str, typer.Option(help="2026-10, 2026-W41 or 2026-10-05")],
    customer: Customer = None,
    reseller: Reseller = None,
) -> None:
    """Close a customer's (or a reseller's) billing period and issue its invoice (once)."""
    from composition.billing import invoicer

    party, level = _party(customer, reseller)
    rt = open_runtime(create=False)
    try:
        closer = invoicer(rt)
        shut = closer.close if level == CUSTOMER else closer.close_reseller
        made = shut(operator(), party, period)
    except DomainError as error:
        fail(error.detail)
    finally:
        rt.close()
    console.print(f"invoice: {made}")


def replay(
    period: Annotated[str, typer.Option(help="2026-10, 2026-W41 or 2026-10-05")],
    customer: Customer = None,
    reseller: Reseller = None,
    version: Annotated[
        int | None, typer.Option(min=1, help="The invoice version (default: the latest)")
    ] = None,
    scratch: Annotated[
        Path | None,
        typer.Option(help="Where to write the rebuilt xDRs and invoice (default: a temp dir)"),
    ] = None,
) -> None:
    """Rebuild the period's xDRs and invoice from the log alone (up to the position the
    issued invoice recorded) into a scratch directory, and print its content hash."""
    import tempfile

    from composition.billing import invoicer

    party, level = _party(customer, reseller)
    rt = open_runtime(create=False)
    try:
        where = scratch or Path(tempfile.mkdtemp(prefix="switchlog-replay-"))
        replayed = invoicer(rt).replay(party, period, version, where, level)
    except DomainError as error:
        fail(error.detail)
    finally:
        rt.close()
    totals = replayed.content["totals"]
    console.print(
        f"period {period}, version {replayed.version}, log position {replayed.position}:"
        f" {len(replayed.xdrs)} xDRs, total {totals['total']} {totals['currency'] or ''}"
    )
    console.print(f"scratch: {where}")
    print(f"content_hash: {replayed.content_hash}")


def reprocess(
    period: Annotated[str, typer.Option(help="2026-10, 2026-W41 or 2026-10-05")],
    reason: Annotated[str, typer.Option(help="Why (recorded): the tariff or rounding fix")],
    customer: Annotated[UUID | None, typer.Option(help="Only this customer")] = None,
    reseller: Annotated[UUID | None, typer.Option(help="Only this reseller's invoice")] = None,
) -> None:
    """Re-rate the period against the tariffs as they are now: void each changed invoice,
    issue its next version, and show the diff."""
    from composition.billing import invoicer, service

    rt = open_runtime(create=False)
    ctx = operator()
    try:
        job = service(rt).request_reprocess(ctx, period, customer, reason, reseller)
        with Progress(
            TextColumn("reprocessing {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task(period, total=None)
            results = invoicer(rt).reprocess(
                ctx, job, lambda done, total: bar.update(task, completed=done, total=total)
            )
    except DomainError as error:
        fail(error.detail)
    finally:
        rt.close()
    console.print(f"job {job}: {len(results)} invoice(s) reissued")
    for entry in results:
        whose = entry["customer_id"] or f"reseller {entry['reseller_id']}"
        console.print(
            f"{whose}: {entry['old_total']} -> {entry['new_total']}"
            f" ({entry['xdrs_changed']} xDRs changed), new invoice {entry['new_invoice_id']}"
        )
