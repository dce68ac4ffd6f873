"""`switchlog billing bundle-create`: a bundle promotion (minutes included per period to
destination prefixes, free or at a discount), as POST /v1/bundle-promotions makes it."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from cli.admin import operator
from cli.store import fail, open_runtime
from domain.shared.errors import DomainError

console = Console()


def _line(given: str) -> dict[str, Any]:
    """`PREFIX:MINUTES[:DISCOUNT_PERCENT]`, e.g. `1209:60` (free) or `44:30:50`."""
    parts = given.split(":")
    if len(parts) not in (2, 3) or not all(p.strip().isdigit() for p in parts[1:]):
        fail(f"--include {given!r}: give PREFIX:MINUTES or PREFIX:MINUTES:DISCOUNT_PERCENT")
    line: dict[str, Any] = {"prefix": parts[0], "minutes": int(parts[1])}
    if len(parts) == 3:
        line["discount_percent"] = int(parts[2])
    return line


def bundle_create(
    name: Annotated[str, typer.Option(help="The bundle promotion's name (unique)")],
    include: Annotated[
        list[str],
        typer.Option(help="PREFIX:MINUTES[:DISCOUNT_PERCENT] (100: free, the default); repeat"),
    ],
    precision: Annotated[int, typer.Option(help="Decimals of a covered xDR, 0 to 6")] = 2,
    period: Annotated[str, typer.Option(help="monthly, weekly or daily")] = "monthly",
) -> None:
    """Create a bundle promotion; attach it with PATCH /v1/products/{id}
    {"bundle_promotion_id": ...}. Its fee is a subscription plan on the same product."""
    from composition.billing import service

    lines = [_line(given) for given in include]
    rt = open_runtime(create=False)
    try:
        made = service(rt).create_bundle_promotion(operator(), name, precision, period, lines)
    except DomainError as error:
        fail(error.detail)
    finally:
        rt.close()
    console.print(f"bundle promotion {made}")
