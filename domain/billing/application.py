"""Billing's use cases: one method a command, get -> decide -> save."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError

from domain.billing import bundles, rating, rounding
from domain.billing.aggregates import (
    BILLING_PERIODS,
    BundlePromotion,
    CustomerBilling,
    CustomerClass,
    ProductBilling,
    ProductBundle,
    ResellerBilling,
    Tariff,
)
from domain.billing.balances import FundsCommands
from domain.billing.invoicing import InvoicingUseCases
from domain.billing.subscriptions import OutageCommands, SubscriptionCommands
from domain.billing.xdrs import CUSTOMER, Leg
from domain.calls.legs import Direction, Service, usage_leg_id
from domain.calls.legs import Leg as CallLeg
from domain.directory.access import Scope
from domain.directory.aggregates import Account, Customer, Reseller
from domain.provisioning.pbx import Product
from domain.shared import values
from domain.shared.actor import Actor, CommandContext, acting_as
from domain.shared.application import SwitchlogApplication
from domain.shared.clock import ticking
from domain.shared.errors import ConflictError, InvalidValueError, NotFoundError
from domain.shared.permissions import Access, Section

CLASS_NAME = "customer-class-name"
TARIFF_NAME = "tariff-name"
BUNDLE_NAME = "bundle-promotion-name"
MAX_RATES = 100_000  # one change (a rate-table file of 50k prefixes fits twice)
MAX_USAGE_SECONDS = 7 * 86_400
_NUMBER = re.compile(r"^[0-9]{1,20}$")
_CLI = re.compile(r"^[^\x00-\x1f\x7f]{0,64}$")
_UNIT = re.compile(r"^[^\x00-\x1f\x7f]{1,32}$")
RATER = Actor.system("billing-rater")


class PeriodClosedError(ConflictError):
    """The billing period of that time is closed for the customer: reprocess it instead."""

    code = "period_closed"


#: Is the customer's billing period of this time closed? (Periods close in part 2.)
PeriodGate = Callable[[UUID, datetime], bool]


def never_closed(customer_id: UUID, at: datetime) -> bool:
    """No period is closed until periods exist (billing, part 2, replaces this gate)."""
    return False


#: Which of the reseller's periods holding this time is closed (its id), if one is.
ResellerPeriodGate = Callable[[UUID, datetime], str | None]


def no_reseller_period_closed(reseller_id: UUID, at: datetime) -> str | None:
    return None


@dataclass(frozen=True)
class Usage:
    """A usage record as an admin posts it (`POST /v1/usage`)."""

    account_id: UUID
    service: str
    cli: str
    cld: str
    connect_time: datetime
    duration_seconds: int
    record_id: str | None = None
    quantity: Decimal | None = None
    unit: str | None = None
    direction: str = "outgoing"


@dataclass(frozen=True)
class Recorded:
    leg_id: UUID
    customer_id: UUID
    new: bool  # False: this record_id was recorded before, nothing was appended


class BillingService(
    SubscriptionCommands, OutageCommands, FundsCommands, InvoicingUseCases, SwitchlogApplication
):
    """Customer classes, tariffs and their rates, what billing attaches to customers,
    products and resellers, usage records, and the xDRs the rater computes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.period_closed: PeriodGate = never_closed
        self.reseller_period_closed: ResellerPeriodGate = no_reseller_period_closed

    # -- customer classes ----------------------------------------------------------------
    def create_customer_class(
        self,
        ctx: CommandContext,
        name: str,
        rounding_method: str,
        invoice_precision: int,
        usage_precision: int,
    ) -> UUID:
        with self.command(ctx):
            self._admin(ctx)
            made = CustomerClass(
                name=values.human_id(name, "name"),
                rounding=rounding.rounding(rounding_method).value,
                invoice_precision=rounding.precision(invoice_precision, "invoice_precision"),
                usage_precision=rounding.precision(usage_precision, "usage_precision"),
            )
            self.save(made, *self.names.claim(CLASS_NAME, name, made.id))
            return made.id

    def edit_customer_class(
        self,
        ctx: CommandContext,
        class_id: UUID,
        reason: str | None,
        name: str | None = None,
        rounding_method: str | None = None,
        invoice_precision: int | None = None,
        usage_precision: int | None = None,
    ) -> bool:
        """Change a class's name or rules (a rule change needs a reason); rating and
        invoices follow it from its position in the log on, so a reprocess re-rates with
        it and a replay of an earlier invoice does not. False when nothing differs."""
        with self.command(ctx):
            self._admin(ctx)
            klass = self.load(class_id, CustomerClass)
            fields: dict[str, Any] = {}
            if rounding_method is not None:
                fields["rounding"] = rounding.rounding(rounding_method).value
            if invoice_precision is not None:
                fields["invoice_precision"] = rounding.precision(
                    invoice_precision, "invoice_precision"
                )
            if usage_precision is not None:
                fields["usage_precision"] = rounding.precision(usage_precision, "usage_precision")
            reason = reason.strip() if reason else None
            if klass.diff(**fields) and not reason:
                raise InvalidValueError("a change of rounding or precision needs a reason")
            claims = []
            if name is not None:
                fields["name"] = values.human_id(name, "name")
                claims = self.names.move(CLASS_NAME, klass.name, fields["name"], klass.id)
            if not klass.edit(reason, **fields):
                return False
            self.save(klass, *claims)
            return True

    # -- tariffs -------------------------------------------------------------------------
    def create_tariff(
        self,
        ctx: CommandContext,
        name: str,
        currency: str,
        precision: int,
        rates: Sequence[Mapping[str, Any]],
        peak_periods: Sequence[Mapping[str, Any]] = (),
    ) -> UUID:
        with self.command(ctx):
            self._admin(ctx)
            peaks = [rating.parse_peak_period(p).as_dict() for p in peak_periods]
            parsed = parse_rates(rates)
            tariff = Tariff(
                name=values.human_id(name, "name"),
                currency=values.currency(currency),
                precision=rounding.precision(precision),
                peak_periods=peaks,
            )
            rating.merge_rates({}, parsed)
            if parsed:
                tariff.change_rates(parsed, "created with the tariff", str(uuid4()))
            self.save(tariff, *self.names.claim(TARIFF_NAME, name, tariff.id))
            return tariff.id

    def change_rates(
        self,
        ctx: CommandContext,
        tariff_id: UUID,
        rates: Sequence[Mapping[str, Any]] | Sequence[rating.Rate],
        reason: str,
        change_id: str | None = None,
    ) -> int:
        """Add or replace rates (same prefix, access code and start); recorded with the
        actor and the reason. Returns how many events (chunks of <= 1000 rates) it took."""
        with self.command(ctx):
            self._admin(ctx)
            if not reason.strip():
                raise InvalidValueError("a rate change needs a reason")
            tariff = self.load(tariff_id, Tariff)
            parsed = parse_rates(rates)
            if not parsed:
                raise InvalidValueError("a rate change needs at least one rate")
            rating.merge_rates(tariff.current_rates(), parsed)
            events = tariff.change_rates(parsed, reason.strip(), change_id or str(uuid4()))
            self.save(tariff)
            return events

    # -- what billing attaches to others' subjects ---------------------------------------
    def set_customer_class(
        self, ctx: CommandContext, customer_id: UUID, class_id: UUID | None
    ) -> None:
        """Give the customer a class (None: the default, away from zero at 2 and 2)."""
        with self.command(ctx):
            customer = self.load(customer_id, Customer)
            scope = Scope.of(ctx.actor)
            scope.require_visible(
                scope.sees_customer(customer.id, customer.reseller_id), f"customer {customer_id}"
            )
            ctx.require(Section.BILLING, Access.MODIFY)
            scope.require_reseller_or_admin()
            customer.check_open()
            if class_id is not None:
                self.load(class_id, CustomerClass)
            found = self._get(CustomerBilling.create_id(customer.id), CustomerBilling)
            if found is None:
                found = CustomerBilling(
                    customer_id=customer.id,
                    reseller_id=customer.reseller_id,
                    customer_class_id=class_id,
                )
            else:
                found.belongs_to(customer.reseller_id)
                found.classify(class_id)
            self.save(found)

    def set_product_tariff(
        self, ctx: CommandContext, product_id: UUID, tariff_id: UUID | None
    ) -> None:
        """Attach a tariff to a product (admins): accounts holding it are rated by it."""
        with self.command(ctx):
            self._admin(ctx)
            self.load(product_id, Product)
            if tariff_id is not None:
                self.load(tariff_id, Tariff)
            found = self._get(ProductBilling.create_id(product_id), ProductBilling)
            if found is None:
                found = ProductBilling(product_id=product_id, tariff_id=tariff_id)
            else:
                found.attach(tariff_id)
            self.save(found)

    def configure_reseller(self, ctx: CommandContext, reseller_id: UUID, **fields: Any) -> None:
        """A reseller's currency, zone, billing period and own tariff (admins)."""
        with self.command(ctx):
            reseller = self.load(reseller_id, Reseller)
            scope = Scope.of(ctx.actor)
            scope.require_visible(scope.sees_reseller(reseller.id), f"reseller {reseller_id}")
            self._admin(ctx)
            reseller.check_open()
            checked = self._reseller_fields(fields)
            found = self._get(ResellerBilling.create_id(reseller_id), ResellerBilling)
            if found is None:
                found = ResellerBilling(
                    reseller_id=reseller_id,
                    currency=checked.get("currency"),
                    time_zone=checked.get("time_zone", "UTC"),
                    billing_period=checked.get("billing_period", "monthly"),
                    tariff_id=checked.get("tariff_id"),
                )
            else:
                found.reconfigure(self.clock.now(), **checked)
            self.save(found)

    def _reseller_fields(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        checked: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "currency":
                checked[name] = values.currency(value) if value is not None else None
            elif name == "time_zone":
                checked[name] = values.time_zone(value)
            elif name == "billing_period":
                if value not in BILLING_PERIODS:
                    raise InvalidValueError(
                        f"billing_period is one of {', '.join(BILLING_PERIODS)}"
                    )
                checked[name] = value
            elif name == "tariff_id":
                if value is not None:
                    self.load(value, Tariff)
                checked[name] = value
            else:
                raise InvalidValueError(f"a reseller's billing has no field {name!r}")
        return checked

    # -- usage ---------------------------------------------------------------------------
    def record_usage(self, ctx: CommandContext, usage: Usage) -> Recorded:
        """Append the record as a finished leg (`calls.Leg.Recorded` + `.Finished`), the
        one path to an xDR. A record_id already recorded for the account records nothing."""
        with self.command(ctx):
            self._admin(ctx)
            account = self.load(usage.account_id, Account)
            customer = self.load(account.customer_id, Customer)
            leg_id = usage_leg_id(account.id, usage.record_id) if usage.record_id else uuid4()
            if self._get(leg_id, CallLeg) is not None:
                return Recorded(leg_id, customer.id, new=False)
            finish = _finish_fields(usage)
            closed = self.closed_period_for(customer.id, customer.reseller_id, usage.connect_time)
            if closed is not None:
                raise PeriodClosedError(closed)
            leg = CallLeg(
                leg_id=leg_id,
                account_id=account.id,
                customer_id=customer.id,
                reseller_id=customer.reseller_id,
                record_id=usage.record_id,
            )
            leg.finish(**finish)
            try:
                self.save(leg)
            except IntegrityError:  # the same record posted at the same moment: it won
                return Recorded(leg_id, customer.id, new=False)
            return Recorded(leg_id, customer.id, new=True)

    def closed_period_for(
        self, customer_id: UUID, reseller_id: UUID | None, at: datetime
    ) -> str | None:
        """Is the billing period of `at` closed for the customer, or for its reseller (the
        reseller-level xDR would land in it)? Why not, as a refusal's detail; None: open."""
        if self.period_closed(customer_id, at):
            return (
                f"the billing period of {at.isoformat()} is closed for this customer;"
                " reprocess the period to change it"
            )
        closed = self.reseller_period_closed(reseller_id, at) if reseller_id else None
        if closed is not None:
            return (
                f"the billing period of {at.isoformat()} is closed for this customer's reseller"
                f" (reseller period {closed}); reprocess the period to change it"
            )
        return None

    # -- xDRs ----------------------------------------------------------------------------
    def record_xdrs(self, rated: Iterable[tuple[dict[str, Any], CommandContext]]) -> int:
        """Append each xDR (with the context naming the leg event that caused it). An xDR
        already in the log (a leg delivered twice, a rater restarted) is left as it is.
        Returns how many were new."""
        given = list(rated)
        if not given:
            return 0
        try:
            self.save(*self._xdrs(given))
            return len(given)
        except IntegrityError:
            pass
        new = 0
        for one in given:  # some were there already: the others one by one, made anew
            try:  # (a failed save has taken the pending events of the aggregates it had)
                self.save(*self._xdrs([one]))
                new += 1
            except IntegrityError:
                continue
        return new

    def _xdrs(self, rated: Iterable[tuple[dict[str, Any], CommandContext]]) -> list[Leg]:
        made = []
        for fields, context in rated:
            with acting_as(context), ticking(self.clock):
                made.append(Leg(**fields))
        return made

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _admin(ctx: CommandContext) -> None:
        ctx.require(Section.BILLING, Access.MODIFY)
        Scope.of(ctx.actor).require_admin()

    def _get(self, aggregate_id: UUID, kind: type[Any]) -> Any:
        try:
            return self.load(aggregate_id, kind)
        except NotFoundError:
            return None

    # -- bundle promotions ---------------------------------------------------------------
    def create_bundle_promotion(
        self,
        ctx: CommandContext,
        name: str,
        precision: int,
        period: str,
        included: Sequence[Mapping[str, Any]],
    ) -> UUID:
        """Minutes included per period to prefixes, free or at a discount (admins)."""
        with self.command(ctx):
            self._admin(ctx)
            lines = bundles.parse_lines(included)
            made = BundlePromotion(
                name=values.human_id(name, "name"),
                precision=rounding.precision(precision),
                period=bundles.check_period(period),
                included=[line.as_dict() for line in lines],
            )
            self.save(made, *self.names.claim(BUNDLE_NAME, name, made.id))
            return made.id

    def set_product_bundle(
        self, ctx: CommandContext, product_id: UUID, bundle_promotion_id: UUID | None
    ) -> None:
        """Attach a bundle promotion to a product (admins; None detaches it)."""
        with self.command(ctx):
            self._admin(ctx)
            self.load(product_id, Product)
            if bundle_promotion_id is not None:
                self.load(bundle_promotion_id, BundlePromotion)
            found = self._get(ProductBundle.create_id(product_id), ProductBundle)
            if found is None:
                found = ProductBundle(
                    product_id=product_id, bundle_promotion_id=bundle_promotion_id
                )
            else:
                found.attach(bundle_promotion_id)
            self.save(found)


def parse_rates(rates: Sequence[Any]) -> list[rating.Rate]:
    if len(rates) > MAX_RATES:
        raise InvalidValueError(f"a change holds at most {MAX_RATES} rates")
    return [
        r if isinstance(r, rating.Rate) else rating.parse_rate(r, f"rates[{i}]")
        for i, r in enumerate(rates)
    ]


def _finish_fields(usage: Usage) -> dict[str, Any]:
    try:
        service = Service(usage.service)
        direction = Direction(usage.direction)
    except ValueError:
        raise InvalidValueError("service is voice, measured or did") from None
    cld = usage.cld.strip().removeprefix("+")
    if not _NUMBER.match(cld):
        raise InvalidValueError(f"cld {usage.cld!r} must be E.164 digits")
    if not _CLI.match(usage.cli):
        raise InvalidValueError("cli holds at most 64 printable characters")
    if usage.connect_time.tzinfo is None:
        raise InvalidValueError("connect_time must carry a UTC offset")
    seconds = usage.duration_seconds
    if isinstance(seconds, bool) or not 0 <= seconds <= MAX_USAGE_SECONDS:
        raise InvalidValueError(f"duration_seconds must be 0 to {MAX_USAGE_SECONDS}")
    quantity = usage.quantity
    if service is not Service.VOICE:
        if quantity is None and service is Service.MEASURED:
            raise InvalidValueError("a measured service needs a quantity")
        if quantity is not None and (quantity < 0 or not quantity.is_finite()):
            raise InvalidValueError("quantity must be 0 or more")
    elif quantity is not None:
        raise InvalidValueError("a voice call has a duration, not a quantity")
    if usage.unit is not None and not _UNIT.match(usage.unit):
        raise InvalidValueError("unit holds 1 to 32 printable characters")
    connect = usage.connect_time
    return {
        "service": service,
        "direction": direction,
        "cli": usage.cli,
        "cld": cld,
        "connect_time": connect,
        "disconnect_time": connect + timedelta(seconds=math.ceil(seconds)),
        "quantity": quantity,
        "unit": usage.unit,
    }


__all__ = ["CUSTOMER", "RATER", "BillingService", "PeriodClosedError", "Recorded", "Usage"]
