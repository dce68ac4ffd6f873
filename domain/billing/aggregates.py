"""Billing's aggregates: customer classes, tariffs, and what billing attaches to the
directory's customers and resellers and to provisioning's products."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.billing import periods
from domain.billing.rating import Rate
from domain.shared.aggregate import CustomerOwned, SwitchlogAggregate
from domain.shared.errors import InvalidValueError
from domain.shared.owners import Owner

#: No event holds more rates than this, so no Kafka message outgrows the broker's limit.
RATES_PER_EVENT = 1000


class CustomerClass(SwitchlogAggregate):
    """How a class of customers is rounded: the method, and the precision of invoice
    amounts and of measured services."""

    context = "billing"

    class Created(SwitchlogAggregate.Created):
        name: str
        rounding: str
        invoice_precision: int
        usage_precision: int

    def __init__(
        self, name: str, rounding: str, invoice_precision: int, usage_precision: int
    ) -> None:
        self.name = name
        self.rounding = rounding
        self.invoice_precision = invoice_precision
        self.usage_precision = usage_precision

    class Edited(SwitchlogAggregate.Changed):
        """The class's name or rounding rules changed (a rounding fix names its reason);
        rating and invoices follow it from its position in the log on."""

        fields = frozenset({"name", "rounding", "invoice_precision", "usage_precision"})
        reason: str | None

    def edit(self, reason: str | None, **fields: Any) -> bool:
        """Record the fields that differ; False when none does."""
        changes = self.diff(**fields)
        if changes:
            self.trigger_event(self.Edited, changes=changes, reason=reason)
        return bool(changes)


class Tariff(SwitchlogAggregate):
    """Rates by destination prefix, in one currency, rounded at the tariff's precision."""

    context = "billing"

    class Created(SwitchlogAggregate.Created):
        name: str
        currency: str
        precision: int
        peak_periods: list[dict[str, Any]]

    def __init__(
        self, name: str, currency: str, precision: int, peak_periods: list[dict[str, Any]]
    ) -> None:
        self.name = name
        self.currency = currency
        self.precision = precision
        self.peak_periods = peak_periods
        self.rates: dict[str, dict[str, Any]] = {}

    class RatesChanged(SwitchlogAggregate.Event):
        """Rates added or replaced (same prefix, access code and start): one chunk of a
        change of at most RATES_PER_EVENT rates, `part` of `parts`."""

        rates: list[dict[str, Any]]
        reason: str
        change_id: str
        part: int
        parts: int

        def apply(self, aggregate: Any) -> None:
            for raw in self.rates:
                aggregate.rates[_key(raw)] = raw

    def change_rates(self, rates: Sequence[Rate], reason: str, change_id: str) -> int:
        """Record the rates in chunks; returns how many events that took."""
        chunks = [
            rates[start : start + RATES_PER_EVENT]
            for start in range(0, len(rates), RATES_PER_EVENT)
        ]
        for part, chunk in enumerate(chunks, 1):
            self.trigger_event(
                self.RatesChanged,
                rates=[r.as_dict() for r in chunk],
                reason=reason,
                change_id=change_id,
                part=part,
                parts=len(chunks),
            )
        return len(chunks)

    def current_rates(self) -> dict[tuple[str, str, str], Rate]:
        return {(r := Rate.from_dict(raw)).key: r for raw in self.rates.values()}


def _key(raw: dict[str, Any]) -> str:
    return (
        f"{raw['prefix']}|{raw.get('access_code') or 'outgoing'}|{raw.get('effective_from') or ''}"
    )


class CustomerBilling(CustomerOwned, SwitchlogAggregate):
    """What billing knows of a customer: its class (none: away from zero at 2 and 2)."""

    context = "billing"

    @staticmethod
    def create_id(customer_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"switchlog:customer-billing:{customer_id}")

    class Classified(SwitchlogAggregate.Created):
        customer_id: UUID
        reseller_id: UUID | None
        customer_class_id: UUID | None

    def __init__(
        self, customer_id: UUID, reseller_id: UUID | None, customer_class_id: UUID | None
    ) -> None:
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.customer_class_id = customer_class_id

    class Reclassified(SwitchlogAggregate.Changed):
        fields = frozenset({"customer_class_id"})

    def classify(self, customer_class_id: UUID | None) -> None:
        self.change(self.Reclassified, customer_class_id=customer_class_id)


class ProductBilling(SwitchlogAggregate):
    """The tariff billing attaches to a product of provisioning's catalog."""

    context = "billing"

    @staticmethod
    def create_id(product_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"switchlog:product-billing:{product_id}")

    class TariffAttached(SwitchlogAggregate.Created):
        product_id: UUID
        tariff_id: UUID | None

    def __init__(self, product_id: UUID, tariff_id: UUID | None) -> None:
        self.product_id = product_id
        self.tariff_id = tariff_id

    class TariffChanged(SwitchlogAggregate.Changed):
        fields = frozenset({"tariff_id"})

    def attach(self, tariff_id: UUID | None) -> None:
        self.change(self.TariffChanged, tariff_id=tariff_id)


BILLING_PERIODS = ("monthly", "weekly", "daily")


class ResellerBilling(SwitchlogAggregate):
    """A reseller as billing sees it: its currency, zone, billing period, and its own tariff
    (the operator's price to it), which prices its reseller-level xDRs."""

    context = "billing"

    @staticmethod
    def create_id(reseller_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"switchlog:reseller-billing:{reseller_id}")

    class Configured(SwitchlogAggregate.Created):
        reseller_id: UUID
        currency: str | None
        time_zone: str
        billing_period: str
        tariff_id: UUID | None

    def __init__(
        self,
        reseller_id: UUID,
        currency: str | None,
        time_zone: str,
        billing_period: str,
        tariff_id: UUID | None,
    ) -> None:
        self.reseller_id = reseller_id
        self.currency = currency
        self.time_zone = time_zone
        self.billing_period = billing_period
        self.tariff_id = tariff_id
        self.schedule = periods.change(periods.DEFAULT_SCHEDULE, billing_period, None)

    class Reconfigured(SwitchlogAggregate.Changed):
        """A change of `billing_period` is in force from `effective_from` (the end of the
        period in progress when it was decided); events recorded before it was recorded
        (None) take effect where the period in progress at their timestamp ended."""

        fields = frozenset({"currency", "time_zone", "billing_period", "tariff_id"})
        effective_from: datetime | None = None

        def apply(self, aggregate: Any) -> None:
            if "billing_period" in self.changes:  # in the zone in force before this change
                aggregate.schedule = schedule_change(aggregate.schedule, self, aggregate.time_zone)
            super().apply(aggregate)

    def reconfigure(self, now: datetime, **fields: Any) -> None:
        """Change the fields that differ; a new `billing_period` from the end of the period
        in progress at `now` (recorded in the event)."""
        refused = sorted(set(fields) - self.Reconfigured.fields)
        if refused:
            raise InvalidValueError(f"a reseller's billing may not change {', '.join(refused)}")
        changes = self.diff(**fields)
        if not changes:
            return
        effective = None
        if "billing_period" in changes:
            effective = periods.current(self.schedule, now, self.time_zone).end
        self.trigger_event(self.Reconfigured, changes=changes, effective_from=effective)

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        return (Owner(reseller_id=fields["reseller_id"]),)

    def owners(self) -> Sequence[Owner]:
        return (Owner(reseller_id=self.reseller_id),)


def schedule_change(schedule: periods.Schedule, event: Any, time_zone: str) -> periods.Schedule:
    """A reseller's schedule after its `Reconfigured` event changing `billing_period`: from
    the recorded `effective_from`, or (events recorded before it was) from the end of the
    period in progress at the event's timestamp."""
    kind = event.changes["billing_period"][1]
    if event.effective_from is not None:
        return periods.change(schedule, kind, event.effective_from)
    return periods.change_at(schedule, kind, event.timestamp, time_zone)


class CustomerBillingCycle(CustomerOwned, SwitchlogAggregate):
    """A customer's billing period kind over time (monthly by default). Its own aggregate,
    so a PATCH changing it beside the class (or other billing fields) does not conflict."""

    context = "billing"

    @staticmethod
    def create_id(customer_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"switchlog:customer-billing-cycle:{customer_id}")

    class Chosen(SwitchlogAggregate.Created):
        customer_id: UUID
        reseller_id: UUID | None
        billing_period: str
        effective_from: datetime | None  # None: from the start (set when created)

    def __init__(
        self,
        customer_id: UUID,
        reseller_id: UUID | None,
        billing_period: str,
        effective_from: datetime | None,
    ) -> None:
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.billing_period = billing_period
        self.schedule = periods.change(periods.DEFAULT_SCHEDULE, billing_period, effective_from)

    class Rescheduled(SwitchlogAggregate.Event):
        """The kind from `effective_from` on (the end of the period in progress)."""

        billing_period: str
        effective_from: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.billing_period = self.billing_period
            aggregate.schedule = periods.change(
                aggregate.schedule, self.billing_period, self.effective_from
            )

    def reschedule(self, billing_period: str, effective_from: datetime) -> None:
        self.trigger_event(
            self.Rescheduled, billing_period=billing_period, effective_from=effective_from
        )


class BundlePromotion(SwitchlogAggregate):
    """Minutes included per period to destination prefixes, free or at a discount, rounded
    at its own precision (domain/billing/bundles.py); the operator's, like tariffs."""

    context = "billing"

    class Created(SwitchlogAggregate.Created):
        name: str
        precision: int
        period: str
        included: list[dict[str, Any]]

    def __init__(
        self, name: str, precision: int, period: str, included: list[dict[str, Any]]
    ) -> None:
        self.name = name
        self.precision = precision
        self.period = period
        self.included = included


class ProductBundle(SwitchlogAggregate):
    """The bundle promotion billing attaches to a product (its own aggregate, so a PATCH
    changing it beside the tariff does not conflict)."""

    context = "billing"

    @staticmethod
    def create_id(product_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"switchlog:product-bundle:{product_id}")

    class BundleAttached(SwitchlogAggregate.Created):
        product_id: UUID
        bundle_promotion_id: UUID | None

    def __init__(self, product_id: UUID, bundle_promotion_id: UUID | None) -> None:
        self.product_id = product_id
        self.bundle_promotion_id = bundle_promotion_id

    class BundleChanged(SwitchlogAggregate.Changed):
        fields = frozenset({"bundle_promotion_id"})

    def attach(self, bundle_promotion_id: UUID | None) -> None:
        self.change(self.BundleChanged, bundle_promotion_id=bundle_promotion_id)
