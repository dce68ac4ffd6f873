"""Billing's fields on other contexts' resources, and its service as the runtime holds it:
a customer's class (`customer_class_id`), a product's tariff (`tariff_id`), a reseller's
billing (`billing`: currency, zone, billing period, own tariff)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.billing.application import BillingService, never_closed
from domain.directory.access import Scope
from domain.shared.actor import CommandContext
from domain.shared.aggregate import iso

if TYPE_CHECKING:
    from adapters.invoicing import Invoicer
    from composition.runtime import Runtime
    from projections.billing import BillingQueries


def service(runtime: Runtime) -> BillingService:
    found = runtime.services["billing"]
    assert isinstance(found, BillingService)
    if found.period_closed is never_closed:  # usage into a closed period is refused (409)
        from projections.invoices import InvoiceQueries

        read = InvoiceQueries(runtime.db)
        closed, reseller_closed = read.period_closed, read.reseller_period_closed
        found.period_closed = lambda customer, at: closed(str(customer), at)
        found.reseller_period_closed = lambda reseller, at: reseller_closed(str(reseller), at)
    return found


def invoicer(runtime: Runtime) -> Invoicer:
    """The process's closer / replayer / reprocessor (adapters/invoicing.py)."""
    found = runtime.__dict__.get("_billing_invoicer")
    if found is None:
        from datetime import timedelta

        from adapters.invoicing import Invoicer

        settings = runtime.settings
        found = Invoicer(
            service(runtime),
            runtime.db,
            runtime.rater(),
            tax_percent=settings.billing_tax_percent,
            grace=timedelta(seconds=settings.billing_close_grace),
            clock=runtime.clock,
            calls_up=lambda customer, end: _calls_up(runtime, customer, end),
            reseller_calls_up=lambda reseller, end: _calls_up(
                runtime, reseller, end, "reseller_id"
            ),
        )
        runtime.__dict__["_billing_invoicer"] = found
    return found


def start_closer(runtime: Runtime) -> None:
    """Close due periods in the background (serve), every minute."""
    runtime._start("billing-closer", invoicer(runtime).run)


def _calls_up(runtime: Runtime, party_id: UUID, end: datetime, column: str = "customer_id") -> int:
    """Calls of the customer (or of the reseller's customers) still up that started before
    `end` (the calls read model)."""
    with runtime.db.transaction(readonly=True) as tx:
        row = tx.fetchone(
            "SELECT COUNT(*) AS n FROM calls c WHERE c.active = 1 AND c.started_at < %s"
            " AND EXISTS (SELECT 1 FROM call_parties p WHERE p.call_id = c.call_id"
            f" AND p.{column} = %s)",
            (iso(end), str(party_id)),
        )
    return int(row["n"]) if row else 0


def queries(runtime: Runtime) -> BillingQueries:
    from projections.billing import BillingQueries

    return BillingQueries(runtime.db)


def _uuid(value: Any) -> UUID | None:
    return UUID(str(value)) if value is not None else None


# -- customers: customer_class_id -------------------------------------------------------
def read_customer_classes(runtime: Runtime, customer_ids: Sequence[str]) -> dict[str, Any]:
    return queries(runtime).customer_classes_of(customer_ids)


def write_customer_class(
    runtime: Runtime, ctx: CommandContext, customer_id: UUID, class_id: Any
) -> Callable[[], bool]:
    wanted = _uuid(class_id)
    service(runtime).set_customer_class(ctx, customer_id, wanted)
    shown = str(wanted) if wanted else None
    key = str(customer_id)
    return lambda: read_customer_classes(runtime, [key]).get(key) == shown


# -- customers: billing_period (monthly, weekly, daily) -----------------------------------
BillingPeriodKind = Literal["monthly", "weekly", "daily"]


def read_customer_billing_periods(runtime: Runtime, customer_ids: Sequence[str]) -> dict[str, Any]:
    from projections.invoices import InvoiceQueries

    return InvoiceQueries(runtime.db).billing_periods(customer_ids)


def write_customer_billing_period(
    runtime: Runtime, ctx: CommandContext, customer_id: UUID, kind: Any
) -> Callable[[], bool]:
    """A change takes effect where the customer's period in progress ends."""
    wanted = kind or "monthly"
    service(runtime).set_customer_billing_period(ctx, customer_id, wanted)
    key = str(customer_id)
    return lambda: read_customer_billing_periods(runtime, [key]).get(key) == wanted


def create_customer_billing_period(
    runtime: Runtime, ctx: CommandContext, customer_id: UUID, kind: Any, fields: dict[str, Any]
) -> Callable[[], bool]:
    """Given when the customer is created: its periods are of that kind from the start."""
    if kind is None:
        return lambda: True  # monthly, the default: nothing to record
    reseller_id = fields.get("reseller_id") or Scope.of(ctx.actor).reseller_id
    service(runtime).start_customer_billing_period(ctx, customer_id, reseller_id, kind)
    key = str(customer_id)
    return lambda: read_customer_billing_periods(runtime, [key]).get(key) == kind


# -- products: tariff_id ----------------------------------------------------------------
def read_product_tariffs(runtime: Runtime, product_ids: Sequence[str]) -> dict[str, Any]:
    return queries(runtime).tariffs_of(product_ids)


def write_product_tariff(
    runtime: Runtime, ctx: CommandContext, product_id: UUID, tariff_id: Any
) -> Callable[[], bool]:
    wanted = _uuid(tariff_id)
    service(runtime).set_product_tariff(ctx, product_id, wanted)
    shown = str(wanted) if wanted else None
    key = str(product_id)
    return lambda: read_product_tariffs(runtime, [key]).get(key) == shown


# -- products: bundle_promotion_id -------------------------------------------------------
def read_product_bundles(runtime: Runtime, product_ids: Sequence[str]) -> dict[str, Any]:
    return queries(runtime).bundles_of(product_ids)


def write_product_bundle(
    runtime: Runtime, ctx: CommandContext, product_id: UUID, bundle_promotion_id: Any
) -> Callable[[], bool]:
    wanted = _uuid(bundle_promotion_id)
    service(runtime).set_product_bundle(ctx, product_id, wanted)
    shown = str(wanted) if wanted else None
    key = str(product_id)
    return lambda: read_product_bundles(runtime, [key]).get(key) == shown


# -- resellers: billing -----------------------------------------------------------------
def read_reseller_billing(runtime: Runtime, reseller_ids: Sequence[str]) -> dict[str, Any]:
    return queries(runtime).resellers(reseller_ids)


def write_reseller_billing(
    runtime: Runtime, ctx: CommandContext, reseller_id: UUID, billing: Any
) -> Callable[[], bool]:
    fields = dict(billing if isinstance(billing, dict) else billing.model_dump(exclude_unset=True))
    if "tariff_id" in fields:
        fields["tariff_id"] = _uuid(fields["tariff_id"])
    service(runtime).configure_reseller(ctx, reseller_id, **fields)
    key = str(reseller_id)

    def shown() -> bool:
        row = read_reseller_billing(runtime, [key]).get(key)
        return row is not None and all(
            row.get(name) == (str(value) if value is not None else None)
            for name, value in fields.items()
        )

    return shown


class ResellerBillingFields(BaseModel):
    """A reseller's billing; in a PATCH, the fields given change and the others stay."""

    model_config = ConfigDict(extra="forbid")

    currency: str | None = Field(None, min_length=3, max_length=3, examples=["EUR"])
    time_zone: str | None = Field(None, min_length=1, max_length=64, examples=["Europe/Paris"])
    billing_period: Literal["monthly", "weekly", "daily"] | None = None
    tariff_id: UUID | None = Field(
        None, description="The reseller's own tariff: the operator's price to the reseller"
    )


# -- the charger: subscription fees and credits when due --------------------------------
def charger(runtime: Runtime) -> Any:
    """The subscription charger (adapters/charger.py), not yet running."""
    from adapters.charger import Charger

    return Charger(
        service(runtime),
        runtime.db,
        runtime.clock,
        settle_seconds=runtime.settings.billing_charge_settle_seconds,
    )


def start_charger(runtime: Runtime) -> None:
    made = charger(runtime)
    poll = runtime.settings.billing_charge_poll_seconds
    runtime._start("billing-charger", lambda stop: made.run(stop, poll))
