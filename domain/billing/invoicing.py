"""Billing's part-2 use cases (mixed into `BillingService`): close a period and issue its
invoice in one append, reissue an invoice after a reprocess (void the old version, issue
the next, correct its xDRs: one append), and reprocess jobs. The content is computed from
the log by adapters/invoicing.py; deciding and recording happen here."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.billing import periods
from domain.billing.aggregates import CustomerBillingCycle
from domain.billing.invoices import (
    ISSUED,
    BillingPeriod,
    Invoice,
    ReprocessJob,
    ResellerBillingPeriod,
    ResellerInvoice,
    content_hash,
    invoice_id,
    period_key,
    reseller_invoice_id,
    reseller_period_key,
)
from domain.billing.xdrs import Leg
from domain.directory.access import Scope
from domain.directory.aggregates import Customer, Reseller
from domain.shared.actor import CommandContext
from domain.shared.errors import ConflictError, InvalidValueError, NotFoundError
from domain.shared.permissions import Access, Section

if TYPE_CHECKING:
    from domain.shared.application import SwitchlogApplication as _Application
else:
    _Application = object


class InvoicingUseCases(_Application):
    """Mixed into BillingService (a SwitchlogApplication): its `command`, `load`, `save`."""

    def may_close(self, ctx: CommandContext, customer_id: UUID) -> Customer:
        """Admins, and the customer's reseller, close its periods."""
        customer: Customer = self.load(customer_id, Customer)
        scope = Scope.of(ctx.actor)
        scope.require_visible(
            scope.sees_customer(customer.id, customer.reseller_id), f"customer {customer_id}"
        )
        ctx.require(Section.BILLING, Access.MODIFY)
        scope.require_reseller_or_admin()
        return customer

    def closed_invoice(self, customer_id: UUID, period_id: str) -> UUID | None:
        """The invoice that closed that period (its first version), or None while open."""
        try:
            closed: BillingPeriod = self.load(period_key(customer_id, period_id), BillingPeriod)
        except NotFoundError:
            return None
        return closed.invoice_id

    def close_period(
        self,
        ctx: CommandContext,
        customer_id: UUID,
        period: periods.Period,
        content: dict[str, Any],
        position: int,
    ) -> UUID:
        """Close and issue version 1, in one append; a second close (or a restart after a
        crash) finds the period closed and returns the same invoice."""
        with self.command(ctx):
            customer = self.may_close(ctx, customer_id)
            first = invoice_id(customer_id, period.id, 1)
            if self.closed_invoice(customer_id, period.id) is not None:
                return first
            invoice = Invoice(
                customer_id=customer_id,
                reseller_id=customer.reseller_id,
                period=period.id,
                version_number=1,
                start=period.start,
                end=period.end,
                lines=content["lines"],
                totals=content["totals"],
                content_hash=content_hash(content),
                position=position,
            )
            closed = BillingPeriod(
                customer_id=customer_id,
                reseller_id=customer.reseller_id,
                period=period.id,
                time_zone=period.time_zone,
                start=period.start,
                end=period.end,
                invoice_id=invoice.id,
                position=position,
            )
            # closed meanwhile by another closer (or before a crash): that one stands
            with suppress(IntegrityError):
                self.save(closed, invoice)
            return first

    # -- resellers' periods: the operator invoices its resellers -------------------------
    def may_close_reseller(self, ctx: CommandContext, reseller_id: UUID) -> Reseller:
        """Only the operator closes a reseller's period (its invoice to the reseller)."""
        ctx.require(Section.BILLING, Access.MODIFY)
        Scope.of(ctx.actor).require_admin()
        reseller: Reseller = self.load(reseller_id, Reseller)
        return reseller

    def closed_reseller_invoice(self, reseller_id: UUID, period_id: str) -> UUID | None:
        try:
            closed: ResellerBillingPeriod = self.load(
                reseller_period_key(reseller_id, period_id), ResellerBillingPeriod
            )
        except NotFoundError:
            return None
        return closed.invoice_id

    def close_reseller_period(
        self,
        ctx: CommandContext,
        reseller_id: UUID,
        period: periods.Period,
        content: dict[str, Any],
        position: int,
    ) -> UUID:
        """Close the reseller's period and issue version 1 of its invoice, in one append;
        closed before (or by a concurrent closer): the same invoice."""
        with self.command(ctx):
            self.may_close_reseller(ctx, reseller_id)
            first = reseller_invoice_id(reseller_id, period.id, 1)
            if self.closed_reseller_invoice(reseller_id, period.id) is not None:
                return first
            invoice = ResellerInvoice(
                reseller_id=reseller_id,
                period=period.id,
                version_number=1,
                start=period.start,
                end=period.end,
                lines=content["lines"],
                totals=content["totals"],
                content_hash=content_hash(content),
                position=position,
            )
            closed = ResellerBillingPeriod(
                reseller_id=reseller_id,
                period=period.id,
                time_zone=period.time_zone,
                start=period.start,
                end=period.end,
                invoice_id=invoice.id,
                position=position,
            )
            with suppress(IntegrityError):
                self.save(closed, invoice)
            return first

    # -- a customer's billing period kind ------------------------------------------------
    def start_customer_billing_period(
        self, ctx: CommandContext, customer_id: UUID, reseller_id: UUID | None, kind: str
    ) -> None:
        """A customer being created (in the creating transaction, by whoever may create
        it) is billed by that kind from the start."""
        with self.command(ctx):
            ctx.require(Section.BILLING, Access.MODIFY)
            Scope.of(ctx.actor).require_reseller_or_admin()
            cycle = CustomerBillingCycle(
                customer_id=customer_id,
                reseller_id=reseller_id,
                billing_period=periods.check_kind(kind),
                effective_from=None,
            )
            self.save(cycle)

    def set_customer_billing_period(
        self, ctx: CommandContext, customer_id: UUID, kind: str
    ) -> None:
        """Bill the customer monthly, weekly or daily (admins and its reseller). A change
        takes effect where the period in progress ends (that one closes as it began)."""
        with self.command(ctx):
            customer: Customer = self.load(customer_id, Customer)
            scope = Scope.of(ctx.actor)
            scope.require_visible(
                scope.sees_customer(customer.id, customer.reseller_id), f"customer {customer_id}"
            )
            ctx.require(Section.BILLING, Access.MODIFY)
            scope.require_reseller_or_admin()
            customer.check_open()
            periods.check_kind(kind)
            try:
                cycle: CustomerBillingCycle | None = self.load(
                    CustomerBillingCycle.create_id(customer.id), CustomerBillingCycle
                )
            except NotFoundError:
                cycle = None
            schedule = cycle.schedule if cycle is not None else periods.DEFAULT_SCHEDULE
            effective = periods.current(schedule, self.clock.now(), customer.time_zone).end
            if periods.change(schedule, kind, effective) == schedule:
                return  # already so: nothing to record
            if cycle is None:
                cycle = CustomerBillingCycle(
                    customer_id=customer.id,
                    reseller_id=customer.reseller_id,
                    billing_period=kind,
                    effective_from=effective,
                )
            else:
                cycle.belongs_to(customer.reseller_id)
                cycle.reschedule(kind, effective)
            self.save(cycle)

    # -- reprocess -----------------------------------------------------------------------
    def request_reprocess(
        self,
        ctx: CommandContext,
        period_id: str,
        customer_id: UUID | None,
        reason: str,
        reseller_id: UUID | None = None,
    ) -> UUID:
        """Reprocess the period: every invoice of it, or one customer's, or (`reseller_id`)
        one reseller's own invoice."""
        with self.command(ctx):
            ctx.require(Section.BILLING, Access.MODIFY)
            Scope.of(ctx.actor).require_admin()
            periods.parse(period_id)
            if not reason.strip():
                raise InvalidValueError("a reprocess needs a reason")
            if customer_id is not None and reseller_id is not None:
                raise InvalidValueError("reprocess one customer or one reseller, not both")
            if customer_id is not None:
                self.load(customer_id, Customer)
            if reseller_id is not None:
                self.load(reseller_id, Reseller)
            job = ReprocessJob(
                period=period_id,
                customer_id=customer_id,
                reason=reason.strip(),
                reseller_id=reseller_id,
            )
            self.save(job)
            return job.id

    def reprocess_job(self, job_id: UUID) -> ReprocessJob:
        job: ReprocessJob = self.load(job_id, ReprocessJob)
        return job

    def complete_reprocess(
        self, ctx: CommandContext, job_id: UUID, results: list[dict[str, Any]]
    ) -> None:
        with self.command(ctx):
            job: ReprocessJob = self.load(job_id, ReprocessJob)
            job.complete(results)
            self.save(job)

    def fail_reprocess(self, ctx: CommandContext, job_id: UUID, error: str) -> None:
        with self.command(ctx):
            job: ReprocessJob = self.load(job_id, ReprocessJob)
            job.fail(error[:500])
            self.save(job)

    def reissue(
        self,
        ctx: CommandContext,
        old_id: UUID,
        content: dict[str, Any],
        position: int,
        changes: Sequence[tuple[UUID, dict[str, Any], dict[str, Any]]],
        reason: str,
        job_id: UUID,
        reseller_level: bool = False,
    ) -> UUID:
        """Void `old_id`, issue its next version with `content` and the per-xDR diff, and
        correct each changed xDR (`Leg.Rerated`): one append, or none."""
        with self.command(ctx):
            ctx.require(Section.BILLING, Access.MODIFY)
            Scope.of(ctx.actor).require_admin()
            kind = ResellerInvoice if reseller_level else Invoice
            old: Any = self.load(old_id, kind)
            if old.status != ISSUED:
                raise ConflictError(f"invoice {old_id} is void: reprocess its latest version")
            party = {} if reseller_level else {"customer_id": old.customer_id}
            new = kind(
                **party,
                reseller_id=old.reseller_id,
                period=old.period,
                version_number=old.version_number + 1,
                start=old.start,
                end=old.end,
                lines=content["lines"],
                totals=content["totals"],
                content_hash=content_hash(content),
                position=position,
                replaces=old.id,
                reason=reason,
                xdr_changes=[diff for _, _, diff in changes],
                reprocess_id=job_id,
            )
            old.void(new.id, reason)
            corrected = []
            for xdr_id, fields, diff in changes:
                xdr: Leg = self.load(xdr_id, Leg)
                xdr.rerate(fields, xdr.amount, diff["cause"], job_id)
                corrected.append(xdr)
            self.save(old, new, *corrected)
            return new.id
