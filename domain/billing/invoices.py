"""Invoices, closed billing periods and reprocess jobs, and the pure arithmetic of an
invoice: lines summed from xDRs, totals and taxes rounded once at the class's invoice
precision (the rounding module), and the content hash (SHA-256 over RFC 8785 canonical
JSON of the lines and totals)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.billing.rounding import Rounding, RoundingRule
from domain.shared.aggregate import CustomerOwned, SwitchlogAggregate
from domain.shared.owners import Owner

ISSUED, VOID = "issued", "void"


def money(value: Decimal | str) -> str:
    """A decimal string without exponent (`0.10`, never `1E-1`)."""
    if isinstance(value, str):
        return value
    text = format(value, "f")
    return "0" if text in ("-0", "") else text


def invoice_id(customer_id: UUID, period: str, version: int) -> UUID:
    """Deterministic: a close restarted after a crash appends the same id (a conflict)."""
    return uuid5(NAMESPACE_URL, f"switchlog:invoice:{customer_id}:{period}:{version}")


def period_key(customer_id: UUID, period: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"switchlog:billing-period:{customer_id}:{period}")


def reseller_invoice_id(reseller_id: UUID, period: str, version: int) -> UUID:
    """A reseller's invoice: its own namespace, so it never collides with a customer's."""
    return uuid5(NAMESPACE_URL, f"switchlog:reseller-invoice:{reseller_id}:{period}:{version}")


def reseller_period_key(reseller_id: UUID, period: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"switchlog:reseller-billing-period:{reseller_id}:{period}")


# -- the arithmetic -------------------------------------------------------------------
def compute(
    xdrs: Iterable[Mapping[str, Any]],
    method: Rounding,
    invoice_precision: int,
    tax_percent: Decimal,
    currency: str | None,
) -> dict[str, Any]:
    """`{"lines", "totals"}` of a period's customer-level xDRs (rated ones are summed; the
    unrated are counted). One line per service and direction, exact sums; the subtotal and
    the tax are each rounded once, and the total is their sum."""
    lines: dict[tuple[str, str], dict[str, Any]] = {}
    unrated = 0
    count = 0
    for xdr in xdrs:
        count += 1
        if xdr["status"] != "rated" or xdr.get("amount") is None:
            unrated += 1
            continue
        if currency is None:
            currency = xdr.get("currency")
        key = (str(xdr["service"]), str(xdr["direction"]))
        line = lines.setdefault(
            key, {"xdrs": 0, "charged_seconds": 0, "quantity": Decimal(0), "amount": Decimal(0)}
        )
        line["xdrs"] += 1
        line["charged_seconds"] += int(xdr.get("charged_seconds") or 0)
        if xdr.get("quantity") is not None:
            line["quantity"] += Decimal(str(xdr["quantity"]))
        line["amount"] += Decimal(str(xdr["amount"]))
    exact = sum((line["amount"] for line in lines.values()), Decimal(0))
    rule = RoundingRule(method, invoice_precision)
    subtotal = rule(exact)
    tax = rule(exact * tax_percent / Decimal(100))
    return {
        "lines": [
            {
                "service": service,
                "direction": direction,
                "xdrs": line["xdrs"],
                "charged_seconds": line["charged_seconds"],
                "quantity": money(line["quantity"]),
                "amount": money(line["amount"]),
            }
            for (service, direction), line in sorted(lines.items())
        ],
        "totals": {
            "currency": currency,
            "xdrs": count,
            "unrated": unrated,
            "subtotal": money(subtotal),
            "tax_percent": money(tax_percent),
            "tax": money(tax),
            "total": money(subtotal + tax),
            "rounding": method.value,
            "invoice_precision": invoice_precision,
        },
    }


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) for the values an invoice holds: strings, integers, null, lists and
    objects (keys sorted by code point; money is a string, so no float is ever serialised)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def content_hash(content: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the invoice's lines and totals; no id, version, status, issue time."""
    doc = {"lines": content["lines"], "totals": content["totals"]}
    return hashlib.sha256(canonical_json(doc)).hexdigest()


def xdr_change(
    old: Mapping[str, Any], new: Mapping[str, Any], klass: Any = None
) -> dict[str, Any] | None:
    """How an xDR's amount changed, and why (which rate or rule); None when it did not.
    `klass`: the customer's class rule now (its name and last edit's reason name a fix)."""
    before, after = old.get("amount"), new.get("amount")
    if before == after and old.get("status") == new.get("status"):
        return None
    return {
        "leg_id": str(old["leg_id"]),
        "connect_time": old["connect_time"],
        "cld": old.get("cld"),
        "old_amount": money(before) if before is not None else None,
        "new_amount": money(after) if after is not None else None,
        "cause": cause_of_change(old, new, klass),
    }


def cause_of_change(old: Mapping[str, Any], new: Mapping[str, Any], klass: Any = None) -> str:
    if old.get("tariff_id") != new.get("tariff_id"):
        return f"tariff {old.get('tariff_id')} replaced by {new.get('tariff_id')}"
    if old.get("status") != new.get("status"):
        return f"was {old.get('status')}, now {new.get('status')}: {new.get('reason') or 'rated'}"
    old_rate, new_rate = old.get("rate") or {}, new.get("rate") or {}
    if old.get("rate_prefix") != new.get("rate_prefix"):
        return f"rate {old.get('rate_prefix')} replaced by rate {new.get('rate_prefix')}"
    changed = sorted(k for k in set(old_rate) | set(new_rate) if old_rate.get(k) != new_rate.get(k))
    if changed:
        what = ", ".join(f"{k} {old_rate.get(k)} -> {new_rate.get(k)}" for k in changed)
        return f"rate {new.get('rate_prefix')} changed: {what}"
    if (old.get("rounding"), old.get("precision")) != (new.get("rounding"), new.get("precision")):
        rule = f"{old.get('rounding')}/{old.get('precision')} -> "
        rule += f"{new.get('rounding')}/{new.get('precision')}"
        moved = klass is not None and _rated_by(old, getattr(klass, "moved_from", None))
        edited = klass is not None and klass.reason and _rated_by(old, klass.before)
        if moved and edited:  # both explain the old xDR: the later change made the new one
            moved = klass.moved_at > klass.edited_at
        if moved:  # the customer was given another class
            return (
                f"customer class changed: {_class_name(klass.moved_from)} ->"
                f" {_class_name(klass)} ({rule})"
            )
        if edited:  # its class was edited
            return f"rounding changed: class {klass.name} {rule} ({klass.reason})"
        return (
            f"rounding changed: {old.get('rounding')} at {old.get('precision')} -> "
            f"{new.get('rounding')} at {new.get('precision')}"
        )
    if old.get("period") != new.get("period"):
        return f"period changed: {old.get('period')} -> {new.get('period')}"
    return "recomputed"


def _rated_by(xdr: Mapping[str, Any], rule: Any) -> bool:
    """Whether the xDR's rounding is the class rule's (its precision too for measured
    usage; voice and units round at the tariff's precision)."""
    if rule is None or xdr.get("rounding") != rule.method.value:
        return False
    return xdr.get("service") != "measured" or xdr.get("precision") == rule.usage_precision


def _class_name(rule: Any) -> str:
    return rule.name or "the default class"


# -- aggregates -----------------------------------------------------------------------
class BillingPeriod(CustomerOwned, SwitchlogAggregate):
    """A customer's period, once closed (its id says whose and which): closing and issuing
    the invoice is one append, so a close restarted after a crash finds it done."""

    context = "billing"

    @staticmethod
    def create_id(customer_id: UUID, period: str) -> UUID:
        return period_key(customer_id, period)

    class Closed(SwitchlogAggregate.Created):
        customer_id: UUID
        reseller_id: UUID | None
        period: str
        time_zone: str
        start: datetime
        end: datetime
        invoice_id: UUID
        position: int

    def __init__(
        self,
        customer_id: UUID,
        reseller_id: UUID | None,
        period: str,
        time_zone: str,
        start: datetime,
        end: datetime,
        invoice_id: UUID,
        position: int,
    ) -> None:
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.period = period
        self.time_zone = time_zone
        self.start = start
        self.end = end
        self.invoice_id = invoice_id
        self.position = position


class Invoice(CustomerOwned, SwitchlogAggregate):
    """One version of a customer's invoice for a period. A reprocess voids it and issues
    the next version; the old one stays readable."""

    context = "billing"

    @staticmethod
    def create_id(customer_id: UUID, period: str, version_number: int) -> UUID:
        return invoice_id(customer_id, period, version_number)

    class Issued(SwitchlogAggregate.Created):
        customer_id: UUID
        reseller_id: UUID | None
        period: str
        version_number: int
        start: datetime
        end: datetime
        lines: list[dict[str, Any]]
        totals: dict[str, Any]
        content_hash: str
        position: int
        replaces: UUID | None
        reason: str | None
        xdr_changes: list[dict[str, Any]]
        reprocess_id: UUID | None

    def __init__(
        self,
        customer_id: UUID,
        reseller_id: UUID | None,
        period: str,
        version_number: int,
        start: datetime,
        end: datetime,
        lines: list[dict[str, Any]],
        totals: dict[str, Any],
        content_hash: str,
        position: int,
        replaces: UUID | None = None,
        reason: str | None = None,
        xdr_changes: list[dict[str, Any]] | None = None,
        reprocess_id: UUID | None = None,
    ) -> None:
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.period = period
        self.version_number = version_number
        self.start = start
        self.end = end
        self.lines = lines
        self.totals = totals
        self.content_hash = content_hash
        self.position = position
        self.replaces = replaces
        self.reason = reason
        self.xdr_changes = xdr_changes or []
        self.reprocess_id = reprocess_id  # its xDR corrections (Leg.Rerated) name it
        self.status = ISSUED
        self.replaced_by: UUID | None = None

    class Voided(SwitchlogAggregate.Event):
        replaced_by: UUID
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = VOID
            aggregate.replaced_by = self.replaced_by

    def void(self, replaced_by: UUID, reason: str) -> None:
        self.trigger_event(self.Voided, replaced_by=replaced_by, reason=reason)


class ReprocessJob(SwitchlogAggregate):
    """A reprocess of a period (all its customers and resellers with an invoice, or one
    customer, or one reseller): requested, then
    completed with each invoice's old and new totals, or failed."""

    context = "billing"

    class Requested(SwitchlogAggregate.Created):
        period: str
        customer_id: UUID | None
        reason: str
        reseller_id: UUID | None = None  # only that reseller's invoice (absent in old events)

    def __init__(
        self, period: str, customer_id: UUID | None, reason: str, reseller_id: UUID | None = None
    ) -> None:
        self.period = period
        self.customer_id = customer_id
        self.reason = reason
        self.reseller_id = reseller_id
        self.status = "running"
        self.invoices: list[dict[str, Any]] = []
        self.error: str | None = None

    class Completed(SwitchlogAggregate.Event):
        invoices: list[dict[str, Any]]

        def apply(self, aggregate: Any) -> None:
            aggregate.status = "completed"
            aggregate.invoices = self.invoices

    class Failed(SwitchlogAggregate.Event):
        error: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = "failed"
            aggregate.error = self.error

    def complete(self, invoices: list[dict[str, Any]]) -> None:
        self.trigger_event(self.Completed, invoices=invoices)

    def fail(self, error: str) -> None:
        self.trigger_event(self.Failed, error=error)


# -- resellers: the operator invoices its resellers (reseller-level xDRs) ----------------
class ResellerBillingPeriod(SwitchlogAggregate):
    """A reseller's period, once closed: closing and issuing its invoice is one append."""

    context = "billing"

    @staticmethod
    def create_id(reseller_id: UUID, period: str) -> UUID:
        return reseller_period_key(reseller_id, period)

    class Closed(SwitchlogAggregate.Created):
        reseller_id: UUID
        period: str
        time_zone: str
        start: datetime
        end: datetime
        invoice_id: UUID
        position: int

    def __init__(
        self,
        reseller_id: UUID,
        period: str,
        time_zone: str,
        start: datetime,
        end: datetime,
        invoice_id: UUID,
        position: int,
    ) -> None:
        self.reseller_id = reseller_id
        self.period = period
        self.time_zone = time_zone
        self.start = start
        self.end = end
        self.invoice_id = invoice_id
        self.position = position

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        return (Owner(reseller_id=fields["reseller_id"]),)


class ResellerInvoice(SwitchlogAggregate):
    """One version of the operator's invoice to a reseller for a period (its reseller-level
    xDRs: calls at the reseller's tariff, reseller subscription fees). Only the operator and
    that reseller see it, never its customers."""

    context = "billing"

    @staticmethod
    def create_id(reseller_id: UUID, period: str, version_number: int) -> UUID:
        return reseller_invoice_id(reseller_id, period, version_number)

    class Issued(SwitchlogAggregate.Created):
        reseller_id: UUID
        period: str
        version_number: int
        start: datetime
        end: datetime
        lines: list[dict[str, Any]]
        totals: dict[str, Any]
        content_hash: str
        position: int
        replaces: UUID | None
        reason: str | None
        xdr_changes: list[dict[str, Any]]
        reprocess_id: UUID | None

    def __init__(
        self,
        reseller_id: UUID,
        period: str,
        version_number: int,
        start: datetime,
        end: datetime,
        lines: list[dict[str, Any]],
        totals: dict[str, Any],
        content_hash: str,
        position: int,
        replaces: UUID | None = None,
        reason: str | None = None,
        xdr_changes: list[dict[str, Any]] | None = None,
        reprocess_id: UUID | None = None,
    ) -> None:
        self.reseller_id = reseller_id
        self.period = period
        self.version_number = version_number
        self.start = start
        self.end = end
        self.lines = lines
        self.totals = totals
        self.content_hash = content_hash
        self.position = position
        self.replaces = replaces
        self.reason = reason
        self.xdr_changes = xdr_changes or []
        self.reprocess_id = reprocess_id
        self.status = ISSUED
        self.replaced_by: UUID | None = None

    class Voided(SwitchlogAggregate.Event):
        replaced_by: UUID
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = VOID
            aggregate.replaced_by = self.replaced_by

    def void(self, replaced_by: UUID, reason: str) -> None:
        self.trigger_event(self.Voided, replaced_by=replaced_by, reason=reason)

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        return (Owner(reseller_id=fields["reseller_id"]),)

    def owners(self) -> Sequence[Owner]:
        return (Owner(reseller_id=self.reseller_id),)
