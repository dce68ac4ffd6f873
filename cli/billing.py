"""`switchlog billing`: the rater as a worker, rate-table uploads, xDRs. Part 2 (periods,
invoices, replay, reprocess) adds its commands to this same sub-app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from cli.admin import operator
from cli.store import fail, open_runtime, until_signalled, worker_runtime
from domain.shared.errors import DomainError

billing_app = typer.Typer(
    help="Billing: rate legs into xDRs, tariffs' rate tables, xDRs", no_args_is_help=True
)
rate_table_app = typer.Typer(help="A tariff's rate table", no_args_is_help=True)
billing_app.add_typer(rate_table_app, name="rate-table")
console = Console()


@billing_app.command("rate")
def rate(
    once: Annotated[bool, typer.Option("--once", help="Rate what is there, then exit")] = False,
) -> None:
    """Rate finished legs into xDRs as its own process, until stopped (turn the one in
    `serve` off with SWITCHLOG_BILLING_RATER_IN_PROCESS=false, or let both run)."""
    rt = worker_runtime()
    try:
        rater = rt.rater()
        if once:
            read = rater.catch_up()
            console.print(f"rated up to log position {rater.position()} ({read} events read)")
            return
        rater.run(until_signalled())
    finally:
        rt.close()


@billing_app.command("charge")
def charge(
    once: Annotated[
        bool, typer.Option("--once", help="Make the charges due now, then exit")
    ] = False,
) -> None:
    """Make subscription fees and credits when due, as xDRs, until stopped (the one in
    `serve` is turned off with SWITCHLOG_BILLING_CHARGER_IN_PROCESS=false)."""
    from composition.billing import charger

    rt = worker_runtime()
    try:
        made = charger(rt)
        if once:
            console.print(f"{made.charge()} charges made")
            return
        made.run(until_signalled(), rt.settings.billing_charge_poll_seconds)
    finally:
        rt.close()


@rate_table_app.command("upload")
def rate_table_upload(
    tariff: Annotated[UUID, typer.Option(help="The tariff's id")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A CSV rate table")],
    reason: Annotated[str, typer.Option(help="Why the rates change (recorded)")],
) -> None:
    """Add or replace a tariff's rates from a CSV file (as POST .../rates/uploads does):
    all rows apply, or none."""
    from api.routers.billing import read_rate_table
    from composition.billing import service

    rt = open_runtime(create=False)
    try:
        rates = read_rate_table(file.read_bytes())
        events = service(rt).change_rates(operator(), tariff, rates, reason)
    except DomainError as error:
        fail(error.detail)
    finally:
        rt.close()
    console.print(f"{len(rates)} rates recorded in {events} events")


@billing_app.command("xdrs")
def xdrs(
    account: Annotated[UUID | None, typer.Option(help="Only this account")] = None,
    customer: Annotated[UUID | None, typer.Option(help="Only this customer")] = None,
    level: Annotated[str, typer.Option(help="customer or reseller")] = "customer",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """xDRs from the read model, by connect time (the operator sees every one)."""
    from composition.billing import queries
    from domain.directory.access import Scope
    from domain.shared.actor import Realm

    rt = open_runtime(create=False)
    try:
        rt.runner.catch_up(["billing"])
        filters = {
            "account_id": str(account) if account else None,
            "customer_id": str(customer) if customer else None,
            "level": level,
        }
        rows, _ = queries(rt).xdrs(Scope(Realm.SYSTEM), filters, limit, 0)
    finally:
        rt.close()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    table = Table("connect time", "account", "cld", "charged s", "amount", "status", "reason")
    for row in rows:
        table.add_row(
            row["connect_time"],
            row["account_id"],
            row["cld"],
            str(row["charged_seconds"] if row["charged_seconds"] is not None else ""),
            f"{row['amount'] or ''} {row['currency'] or ''}".strip(),
            row["status"],
            row["reason"] or "",
        )
    console.print(table)


# -- billing part 2: periods, replay, reprocess (cli/invoicing.py) ------------------------
from cli.invoicing import close, replay, reprocess  # noqa: E402

billing_app.command("close")(close)
billing_app.command("replay")(replay)
billing_app.command("reprocess")(reprocess)

# -- editing classes and plans (cli/billing_changes.py) ------------------------------------
from cli.billing_changes import class_edit, plan_edit  # noqa: E402

billing_app.command("class-edit")(class_edit)
billing_app.command("plan-edit")(plan_edit)

# -- balances: payments and the funds watcher (cli/balances.py) ---------------------------
from cli.balances import funds, payment  # noqa: E402

billing_app.command("payment")(payment)
billing_app.command("funds")(funds)

# -- bundle promotions (cli/bundles.py) -----------------------------------------------------
from cli.bundles import bundle_create  # noqa: E402

billing_app.command("bundle-create")(bundle_create)
