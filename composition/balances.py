"""Customers' funds wired to the rest: the `payment_terms` field billing contributes to
`/v1/customers`, the funds gate the calls context asks before originating a call, and the
funds watcher (adapters/funds.py) that records running out of funds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from composition.billing import service
from domain.billing.balances import UNSET
from domain.shared.actor import CommandContext

if TYPE_CHECKING:
    from adapters.funds import FundsWatcher
    from composition.runtime import Runtime
    from projections.balances import BalanceQueries


#: A decimal string, never a JSON number (as api/billing_schemas.py's Money).
Money = Annotated[
    str,
    StringConstraints(max_length=21, pattern=r"^[0-9]{1,10}(\.[0-9]{1,10})?$"),
    Field(examples=["10.00"], description="A decimal string (never a JSON number)"),
]


class PaymentTermsFields(BaseModel):
    """How the customer pays. In a PATCH the fields given change; a new `mode` without a
    `credit_limit` takes that mode's default (prepaid "0", postpaid null: no limit)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["prepaid", "postpaid"] | None = None
    credit_limit: Money | None = Field(
        None,
        description="How far below zero the balance may go (a decimal string); null: no limit"
        ' (postpaid only). Prepaid: "0" = spend what was paid',
    )


def queries(runtime: Runtime) -> BalanceQueries:
    from projections.balances import BalanceQueries

    return BalanceQueries(runtime.db)


def read_payment_terms(runtime: Runtime, customer_ids: Sequence[str]) -> dict[str, Any]:
    return queries(runtime).terms_of(customer_ids)


def write_payment_terms(
    runtime: Runtime, ctx: CommandContext, customer_id: UUID, value: Any
) -> Callable[[], bool]:
    if value is None:  # null: back to the default terms
        given: dict[str, Any] = {"mode": "postpaid", "credit_limit": None}
    elif isinstance(value, dict):
        given = dict(value)
    else:
        given = value.model_dump(exclude_unset=True)
    service(runtime).set_payment_terms(
        ctx, customer_id, given.get("mode"), given.get("credit_limit", UNSET)
    )
    key = str(customer_id)

    def shown() -> bool:
        row = read_payment_terms(runtime, [key]).get(key) or {}
        return all(
            name not in given or given[name] is None or _same(row.get(name), given[name])
            for name in ("mode", "credit_limit")
        )

    return shown


def _same(shown: Any, given: Any) -> bool:
    if shown is None or given is None:
        return shown == given
    try:
        return bool(Decimal(str(shown)) == Decimal(str(given)))
    except ArithmeticError:
        return bool(shown == given)


# -- the gate calls ask, and the watcher ------------------------------------------------
def has_funds(runtime: Runtime) -> Callable[[UUID], bool]:
    """May the customer place a call now? Not while its available funds are below zero."""
    found = queries(runtime)
    return lambda customer_id: not found.funds(str(customer_id))[0].no_funds


def watcher(runtime: Runtime) -> FundsWatcher:
    """The process's funds watcher (built once; woken by every append here)."""
    made = runtime.__dict__.get("_billing_funds_watcher")
    if made is None:
        from adapters.funds import FundsWatcher

        made = FundsWatcher(service(runtime), runtime.db, clock=runtime.clock)
        made.setup()
        runtime.on_append.append(made.wake)
        runtime.__dict__["_billing_funds_watcher"] = made
    return made


def start_watcher(runtime: Runtime) -> None:
    runtime._start("billing-funds", watcher(runtime).run)
