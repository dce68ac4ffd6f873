"""`switchlog billing class-edit` and `plan-edit`: a rounding fix on a customer class, a
subscription plan's fee from a given time, recorded with the operator and a reason (as
PATCH /v1/customer-classes/{id} and PATCH /v1/subscription-plans/{id} do)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console

from cli.admin import operator
from cli.store import fail, open_runtime
from domain.shared.errors import DomainError

console = Console()


def class_edit(
    class_id: Annotated[UUID, typer.Argument(help="The customer class")],
    reason: Annotated[str, typer.Option(help="Why (required for a rule change; recorded)")],
    rounding: Annotated[
        str | None, typer.Option(help="away_from_zero, half_away_from_zero or malaysian")
    ] = None,
    invoice_precision: Annotated[int | None, typer.Option(help="0 to 6")] = None,
    usage_precision: Annotated[int | None, typer.Option(help="0 to 6")] = None,
    name: Annotated[str | None, typer.Option(help="A new name")] = None,
) -> None:
    """Edit a customer class (a rounding fix); then `switchlog billing reprocess` applies
    it to a closed period and names it as the cause."""
    from composition.billing import service

    rt = open_runtime(create=False)
    try:
        changed = service(rt).edit_customer_class(
            operator(),
            class_id,
            reason,
            name=name,
            rounding_method=rounding,
            invoice_precision=invoice_precision,
            usage_precision=usage_precision,
        )
    except DomainError as error:
        fail(error.detail)
    finally:
        rt.close()
    console.print(f"class {class_id} {'changed' if changed else 'unchanged'}")


def plan_edit(
    plan_id: Annotated[UUID, typer.Argument(help="The subscription plan")],
    reason: Annotated[str, typer.Option(help="Why the plan changes (recorded)")],
    fee: Annotated[str | None, typer.Option(help="The new fee, a decimal")] = None,
    effective: Annotated[
        str | None, typer.Option(help="When the fee changes, with a UTC offset (default now)")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A new name")] = None,
) -> None:
    """Change a plan's fee from a given time (a change inside a charged period is
    prorated by days by the charger) or its name."""
    from composition.billing import service

    try:
        amount = Decimal(fee) if fee is not None else None
        at = datetime.fromisoformat(effective) if effective is not None else None
    except (InvalidOperation, ValueError):
        fail("fee is a decimal and effective an ISO time with a UTC offset")
    rt = open_runtime(create=False)
    try:
        service(rt).edit_plan(operator(), plan_id, reason, fee=amount, effective=at, name=name)
    except DomainError as error:
        fail(error.detail)
    finally:
        rt.close()
    console.print(f"plan {plan_id} changed")
