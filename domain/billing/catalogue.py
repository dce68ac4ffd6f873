"""What rating needs to know, built from the log alone: customers' zones and classes,
accounts' products, products' tariffs, tariffs' rates, resellers' tariffs.

The rater applies every such event in log order and rates each finished leg against the
state at that leg's position, so rating a log twice gives the same xDRs (replay, a rater
restarted after a crash). Nothing here reads a read model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.billing import bundles, periods, rating
from domain.billing.aggregates import (
    BundlePromotion,
    CustomerBilling,
    CustomerBillingCycle,
    CustomerClass,
    ProductBilling,
    ProductBundle,
    ResellerBilling,
    Tariff,
    schedule_change,
)
from domain.billing.rounding import DEFAULT_METHOD, DEFAULT_PRECISION, Rounding, RoundingRule
from domain.billing.xdrs import CUSTOMER, RATED, RESELLER, UNRATED
from domain.calls.legs import Leg as CallLeg
from domain.directory.aggregates import Customer
from domain.provisioning.pbx import MAIN, Agreement, Product

UTC = ZoneInfo("UTC")
_T = TypeVar("_T")


@dataclass
class TariffState:
    currency: str
    precision: int
    peaks: list[rating.PeakPeriod]
    table: rating.RateTable = field(default_factory=rating.RateTable)


@dataclass
class Party:
    """A customer or a reseller as billing sees it."""

    time_zone: str = "UTC"
    currency: str | None = None
    class_id: UUID | None = None
    tariff_id: UUID | None = None  # resellers: their own tariff
    schedule: periods.Schedule = periods.DEFAULT_SCHEDULE  # period kinds over time


@dataclass(frozen=True)
class ClassRule:
    method: Rounding
    usage_precision: int
    invoice_precision: int = DEFAULT_PRECISION
    name: str = ""
    reason: str | None = None  # the last edit's (a rounding fix names why)
    # Cause bookkeeping (invoices.cause_of_change): the rule before its last rounding edit
    # and when that edit was; for a customer's rule (`class_of`), the class it was given
    # last, the one it had before and when.
    before: ClassRule | None = None
    edited_at: datetime | None = None
    moved_from: ClassRule | None = None
    moved_at: datetime | None = None


DEFAULT_CLASS = ClassRule(DEFAULT_METHOD, DEFAULT_PRECISION)


class Catalogue:
    """Rating's state, one event at a time (`apply`), and the rating itself (`rate`)."""

    def __init__(self) -> None:
        self.customers: dict[UUID, Party] = {}
        self.resellers: dict[UUID, Party] = {}
        self.classes: dict[UUID, ClassRule] = {}
        self.tariffs: dict[UUID, TariffState] = {}
        self.product_kinds: dict[UUID, str] = {}
        self.product_tariffs: dict[UUID, UUID | None] = {}
        self.account_products: dict[UUID, list[UUID]] = {}
        self.bundles: dict[UUID, bundles.Bundle] = {}
        self.product_bundles: dict[UUID, UUID | None] = {}
        self.bundle_counters = bundles.Counters()
        self.class_moves: dict[UUID, tuple[ClassRule, datetime]] = {}  # customer -> from, when
        self._subjects: dict[UUID, UUID] = {}  # billing aggregate id -> customer/product/reseller
        self._zones: dict[str, ZoneInfo] = {}
        self._handlers: dict[type, Callable[[Any], None]] = {
            Customer.Created: self._customer_created,
            Product.Created: self._product_created,
            Agreement.ProductsAssigned: self._products_assigned,
            CustomerClass.Created: self._class_created,
            CustomerClass.Edited: self._class_edited,
            CustomerBilling.Classified: self._classified,
            CustomerBilling.Reclassified: self._reclassified,
            ProductBilling.TariffAttached: self._tariff_attached,
            ProductBilling.TariffChanged: self._tariff_changed,
            Tariff.Created: self._tariff_created,
            Tariff.RatesChanged: self._rates_changed,
            ResellerBilling.Configured: self._reseller_configured,
            ResellerBilling.Reconfigured: self._reseller_reconfigured,
            CustomerBillingCycle.Chosen: self._cycle_chosen,
            CustomerBillingCycle.Rescheduled: self._rescheduled,
            BundlePromotion.Created: self._bundle_created,
            ProductBundle.BundleAttached: self._bundle_attached,
            ProductBundle.BundleChanged: self._bundle_changed,
        }
        for kind in (Customer.DetailsChanged, Customer.Updated):
            self._handlers[kind] = self._customer_changed

    #: Event classes the catalogue follows (the rater reads only these and finished legs).
    @property
    def followed(self) -> tuple[type, ...]:
        return tuple(self._handlers)

    def apply(self, event: Any) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    # -- what rating knows -------------------------------------------------------------
    def _customer_created(self, event: Any) -> None:
        self.customers[event.originator_id] = Party(event.time_zone, event.currency)

    def _customer_changed(self, event: Any) -> None:
        party = self.customers.setdefault(event.originator_id, Party())
        changes = event.changes
        if "time_zone" in changes:
            party.time_zone = changes["time_zone"][1]
        if "currency" in changes:
            party.currency = changes["currency"][1]

    def _product_created(self, event: Any) -> None:
        self.product_kinds[event.originator_id] = event.kind

    def _products_assigned(self, event: Any) -> None:
        self.account_products[event.account_id] = [UUID(str(p)) for p in event.products]

    def _class_created(self, event: Any) -> None:
        self.classes[event.originator_id] = ClassRule(
            Rounding(event.rounding), event.usage_precision, event.invoice_precision, event.name
        )

    def _class_edited(self, event: Any) -> None:
        rule = self.classes[event.originator_id]
        after = {name: new for name, (_old, new) in event.changes.items()}
        ruled = {"rounding", "usage_precision", "invoice_precision"} & set(after)
        self.classes[event.originator_id] = ClassRule(
            Rounding(after.get("rounding", rule.method.value)),
            after.get("usage_precision", rule.usage_precision),
            after.get("invoice_precision", rule.invoice_precision),
            after.get("name", rule.name),
            event.reason or rule.reason,
            replace(rule, before=None) if ruled else rule.before,
            event.timestamp if ruled else rule.edited_at,
        )

    def class_of(self, customer_id: UUID) -> ClassRule:
        """The customer's class rule (the default without one), with the class it had
        before its last class change (a reprocess's cause names a reclassification)."""
        party = self.customers.get(customer_id)
        rule = DEFAULT_CLASS
        if party is not None and party.class_id is not None:
            rule = self.classes.get(party.class_id, DEFAULT_CLASS)
        moved = self.class_moves.get(customer_id)
        return rule if moved is None else replace(rule, moved_from=moved[0], moved_at=moved[1])

    def _classified(self, event: Any) -> None:
        self._subjects[event.originator_id] = event.customer_id
        self._class_moved(event.customer_id, event.customer_class_id, event.timestamp)

    def _reclassified(self, event: Any) -> None:
        customer = self._subjects[event.originator_id]
        self._class_moved(customer, event.changes["customer_class_id"][1], event.timestamp)

    def _class_moved(self, customer_id: UUID, class_id: UUID | None, at: datetime) -> None:
        party = self.customers.setdefault(customer_id, Party())
        if party.class_id == class_id:
            return
        previous = replace(self.class_of(customer_id), moved_from=None, moved_at=None)
        party.class_id = class_id
        self.class_moves[customer_id] = (previous, at)

    def _tariff_attached(self, event: Any) -> None:
        self._subjects[event.originator_id] = event.product_id
        self.product_tariffs[event.product_id] = event.tariff_id

    def _tariff_changed(self, event: Any) -> None:
        self.product_tariffs[self._subjects[event.originator_id]] = event.changes["tariff_id"][1]

    def _tariff_created(self, event: Any) -> None:
        peaks = [rating.parse_peak_period(p) for p in event.peak_periods]
        self.tariffs[event.originator_id] = TariffState(event.currency, event.precision, peaks)

    def _rates_changed(self, event: Any) -> None:
        table = self.tariffs[event.originator_id].table
        for raw in event.rates:
            table.add(rating.Rate.from_dict(raw))

    def _reseller_configured(self, event: Any) -> None:
        self._subjects[event.originator_id] = event.reseller_id
        self.resellers[event.reseller_id] = Party(
            event.time_zone,
            event.currency,
            tariff_id=event.tariff_id,
            schedule=periods.change(periods.DEFAULT_SCHEDULE, event.billing_period, None),
        )

    def _reseller_reconfigured(self, event: Any) -> None:
        party = self.resellers[self._subjects[event.originator_id]]
        if "billing_period" in event.changes:  # from its recorded effective_from
            party.schedule = schedule_change(party.schedule, event, party.time_zone)
        for name, (_before, after) in event.changes.items():
            if name in ("time_zone", "currency", "tariff_id"):
                setattr(party, name, after)

    def _cycle_chosen(self, event: Any) -> None:
        self._subjects[event.originator_id] = event.customer_id
        party = self.customers.setdefault(event.customer_id, Party())
        party.schedule = periods.change(
            periods.DEFAULT_SCHEDULE, event.billing_period, event.effective_from
        )

    def _rescheduled(self, event: Any) -> None:
        party = self.customers.setdefault(self._subjects[event.originator_id], Party())
        party.schedule = periods.change(party.schedule, event.billing_period, event.effective_from)

    def _bundle_created(self, event: Any) -> None:
        lines = tuple(bundles.Line.from_dict(raw) for raw in event.included)
        self.bundles[event.originator_id] = bundles.Bundle(
            event.originator_id, event.precision, event.period, lines
        )

    def _bundle_attached(self, event: Any) -> None:
        self._subjects[event.originator_id] = event.product_id
        self.product_bundles[event.product_id] = event.bundle_promotion_id

    def _bundle_changed(self, event: Any) -> None:
        product = self._subjects[event.originator_id]
        self.product_bundles[product] = event.changes["bundle_promotion_id"][1]

    # -- rating ------------------------------------------------------------------------
    def bundle_of_account(self, account_id: UUID) -> bundles.Bundle | None:
        """The main product's bundle promotion; else the first add-on's that has one."""
        if not self.product_bundles:
            return None
        return self._main_first(account_id, self._bundle_of_product)

    def _bundle_of_product(self, product_id: UUID) -> bundles.Bundle | None:
        bundle_id = self.product_bundles.get(product_id)
        return self.bundles.get(bundle_id) if bundle_id is not None else None

    def count(self, leg: CallLeg.Finished) -> None:
        """Count a finished leg in its bundle's counters, as rating it did (a catalogue
        rebuilt from the log up to a position: adapters/rater.py `catalogue_at`)."""
        if leg.connect_time is not None and self.bundle_of_account(leg.account_id) is not None:
            self.rate(leg)

    def tariff_of_account(self, account_id: UUID) -> UUID | None:
        """The main product's tariff; else the first add-on's that has one."""
        return self._main_first(account_id, self.product_tariffs.get)

    def _main_first(self, account_id: UUID, pick: Callable[[UUID], _T | None]) -> _T | None:
        """What `pick` finds on the account's main product; else on its first add-on."""
        products = self.account_products.get(account_id, [])
        for product in sorted(products, key=lambda p: self.product_kinds.get(p) != MAIN):
            found = pick(product)
            if found is not None:
                return found
        return None

    def rate(self, leg: CallLeg.Finished) -> list[dict[str, Any]]:
        """The xDRs of a finished leg: the customer's, and the reseller's if it has one
        (each as the fields of a `billing.Leg.Rated`). A leg that never connected bills
        nothing."""
        if leg.connect_time is None:
            return []
        owner = leg.owners[0] if leg.owners else None
        customer_id = owner.customer_id if owner else None
        if customer_id is None:
            return []
        reseller_id = owner.reseller_id if owner else None
        customer = self.customers.get(customer_id, Party())
        rule = (
            self.classes.get(customer.class_id, DEFAULT_CLASS)
            if customer.class_id
            else DEFAULT_CLASS
        )
        xdrs = [
            self._rate_level(
                CUSTOMER,
                leg,
                customer_id,
                reseller_id,
                self.tariff_of_account(leg.account_id),
                customer,
                rule,
                "the account's products have no tariff",
            )
        ]
        if reseller_id is not None:
            reseller = self.resellers.get(reseller_id, Party())
            xdrs.append(
                self._rate_level(
                    RESELLER,
                    leg,
                    customer_id,
                    reseller_id,
                    reseller.tariff_id,
                    reseller,
                    DEFAULT_CLASS,
                    "the reseller has no tariff",
                )
            )
        return xdrs

    def _rate_level(
        self,
        level: str,
        leg: CallLeg.Finished,
        customer_id: UUID,
        reseller_id: UUID | None,
        tariff_id: UUID | None,
        party: Party,
        rule: ClassRule,
        no_tariff: str,
    ) -> dict[str, Any]:
        assert leg.connect_time is not None
        duration = max(0, math.ceil((leg.disconnect_time - leg.connect_time).total_seconds()))
        xdr: dict[str, Any] = {
            "leg_id": leg.leg_id,
            "level": level,
            "account_id": leg.account_id,
            "customer_id": customer_id,
            "reseller_id": reseller_id,
            "service": leg.service,
            "direction": leg.direction,
            "access_code": leg.access_code,
            "cli": leg.cli,
            "cld": leg.cld,
            "connect_time": leg.connect_time,
            "disconnect_time": leg.disconnect_time,
            "duration_seconds": duration,
            "charged_seconds": None,
            "quantity": leg.quantity,
            "unit": leg.unit,
            "status": UNRATED,
            "reason": None,
            "tariff_id": tariff_id,
            "rate_prefix": None,
            "rate": None,
            "period": None,
            "amount": None,
            "currency": party.currency,
            "rounding": rule.method.value,
            "precision": rule.usage_precision,
            "tracking_id": leg.tracking_id,
            "previous_tracking_id": leg.previous_tracking_id,
        }
        tariff = self.tariffs.get(tariff_id) if tariff_id is not None else None
        if tariff is None:
            xdr["reason"] = no_tariff if tariff_id is None else f"tariff {tariff_id} is unknown"
            return xdr
        if party.currency is not None and tariff.currency != party.currency:
            xdr["reason"] = (
                f"the tariff is in {tariff.currency}, the {level} is billed in {party.currency}"
            )
            return xdr
        xdr["currency"] = tariff.currency
        found = tariff.table.find(leg.cld, leg.access_code, leg.connect_time)
        if found is None:
            xdr["reason"] = f"no {leg.access_code} rate matches the destination {leg.cld}"
            return xdr
        xdr.update(status=RATED, rate_prefix=found.prefix, rate=found.as_dict())
        if leg.service == "voice":
            local = leg.connect_time.astimezone(self._zone(party.time_zone))
            period = rating.period_at(local, tariff.peaks)
            charged = rating.billed_seconds(duration, found)
            places = tariff.precision
            price = rating.call_price(found, charged, period)
            xdr.update(charged_seconds=charged, period=period)
            if level == CUSTOMER and self.product_bundles:
                covered = self._bundle(leg, party, found, charged, period, xdr)
                if covered is not None:
                    price, places = covered
        else:
            quantity = leg.quantity if leg.quantity is not None else Decimal(1)
            places = rule.usage_precision if leg.service == "measured" else tariff.precision
            price = rating.unit_price(found, quantity)
            xdr["quantity"] = quantity
        xdr.update(amount=RoundingRule(rule.method, places)(price), precision=places)
        return xdr

    def _bundle(
        self,
        leg: CallLeg.Finished,
        party: Party,
        found: rating.Rate,
        charged: int,
        period: str,
        xdr: dict[str, Any],
    ) -> tuple[Decimal, int] | None:
        """A customer's outgoing voice leg against its bundle promotion (bundles.py): the
        price and the places when any second is covered; the xDR's rate names the bundle."""
        if leg.access_code != rating.OUTGOING or leg.connect_time is None:
            return None
        bundle = self.bundle_of_account(leg.account_id)
        line = bundle.line_for(leg.cld) if bundle is not None else None
        if bundle is None or line is None:
            return None
        coverage = self.bundle_counters.cover(
            leg.account_id, bundle, line, leg.connect_time, party.time_zone, leg.leg_id, charged
        )
        xdr["rate"] = {
            **xdr["rate"],
            "bundle": {
                "id": str(bundle.id),
                "covered_seconds": coverage.covered_seconds,
                "left_seconds": coverage.left_seconds,
            },
        }
        if coverage.covered_seconds == 0:
            return None
        price = bundles.price(
            found, charged, coverage.covered_seconds, line.discount_percent, period
        )
        return price, bundle.precision

    def _zone(self, name: str) -> ZoneInfo:
        zone = self._zones.get(name)
        if zone is None:
            zone = self._zones[name] = ZoneInfo(name)
        return zone
