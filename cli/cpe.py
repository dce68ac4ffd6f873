"""`switchlog cpe`: the IP phone inventory from the command line (batch uploads).

The upload runs in this process against the configured store, as the operator
(`cli:<os user>`, like `switchlog admin`), with the same job as the API's: the same
checks, the same batches, the same progress events.
"""

from __future__ import annotations

import getpass
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from adapters.cpe_files import errors_csv, template_csv, template_xlsx
from adapters.cpe_uploads import UploadJobs
from cli.store import fail, open_runtime
from domain.directory.access import Scope
from domain.provisioning.application import ProvisioningService
from domain.provisioning.cpe_upload import BatchOutcome
from domain.shared.actor import Actor, CommandContext
from domain.shared.errors import DomainError
from projections.cpe import CpeQueries

cpe_app = typer.Typer(help="IP phone (CPE) inventory: batch uploads", no_args_is_help=True)
console = Console()
SHOWN_ERRORS = 50


class TemplateFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


def _operator() -> CommandContext:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return CommandContext(Actor.system(f"cli:{user}"))


@cpe_app.command("upload")
def upload(
    file: Annotated[Path, typer.Argument(help="A .csv, .xls or .xlsx file (see `template`)")],
    errors_to: Annotated[
        Path | None, typer.Option("--errors-csv", help="Write every row error to this CSV")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Upload phones to the inventory; shows progress, then the summary and row errors."""
    if not file.is_file():
        fail(f"no file at {file}")
    rt = open_runtime(create=False)
    try:
        service = rt.services["provisioning"]
        assert isinstance(service, ProvisioningService)
        jobs = UploadJobs(service, rt.settings.store_url, rt.settings.var_dir / "uploads")
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=as_json,
        ) as bar:
            task = bar.add_task(f"uploading {file.name}", total=None)

            def progress(done: int, total: int, _outcome: BatchOutcome) -> None:
                bar.update(task, completed=done, total=total)

            job_id = jobs.run(_operator(), file, file.name, progress)
        rt.runner.catch_up(["cpe"])
        queries = CpeQueries(rt.db)
        row = queries.upload(Scope.of(Actor.system("cli")), str(job_id))
        errors = queries.upload_errors(str(job_id))
    except DomainError as error:
        fail(error.detail)
    finally:
        rt.close()
    assert row is not None
    if errors_to is not None:
        errors_to.write_text("".join(errors_csv(errors)))
    _report(row, errors, as_json)
    if row["status"] != "done":
        raise typer.Exit(1)


def _report(row: dict[str, Any], errors: list[dict[str, Any]], as_json: bool) -> None:
    summary = {
        "id": row["id"],
        "status": row["status"],
        "reason": row["reason"],
        "rows_total": row["rows_total"],
        "rows_applied": row["rows_applied"],
        "rows_unchanged": row["rows_unchanged"],
        "rows_failed": row["rows_failed"],
        "errors": errors,
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console.print(
        f"upload {row['id']}: [bold]{row['status']}[/]: {row['rows_total']} rows,"
        f" {row['rows_applied']} applied, {row['rows_unchanged']} unchanged,"
        f" {row['rows_failed']} with errors"
    )
    if row["reason"]:
        console.print(f"reason: {row['reason']}", markup=False)
    if errors:
        table = Table("row", "column", "value", "reason")
        for error in errors[:SHOWN_ERRORS]:
            table.add_row(str(error["row"]), error["column"], error["value"], error["reason"])
        console.print(table)
        if len(errors) > SHOWN_ERRORS:
            console.print(f"... and {len(errors) - SHOWN_ERRORS} more (--errors-csv writes all)")


@cpe_app.command("template")
def template(
    out: Annotated[Path, typer.Argument(help="Where to write the template")],
    format: Annotated[TemplateFormat, typer.Option(help="csv or xlsx")] = TemplateFormat.CSV,
) -> None:
    """Write the upload template: every column, in the one order an upload accepts."""
    out.write_bytes(template_xlsx() if format is TemplateFormat.XLSX else template_csv())
    console.print(f"template written to {out}")
