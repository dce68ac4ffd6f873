"""Customers' funds: payment terms (prepaid or postpaid, a credit limit), payments and
refunds, and the rule that says when a customer is out of funds (pure); their aggregates
and use cases (mixed into BillingService, as SubscriptionCommands are).

balance = payments - charges; available = balance + credit limit (no limit: None, never
out of funds); a customer is out of funds while `available` is below zero.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.persistence import IntegrityError

from domain.billing.subscriptions import ServiceOutage
from domain.directory.access import Scope
from domain.directory.aggregates import Customer
from domain.shared.actor import Actor, CommandContext
from domain.shared.aggregate import CustomerOwned, SwitchlogAggregate
from domain.shared.errors import ConflictError, InvalidValueError, NotFoundError
from domain.shared.permissions import Access, Section

PREPAID, POSTPAID = "prepaid", "postpaid"
MODES = (PREPAID, POSTPAID)
PAYMENT, REFUND = "payment", "refund"
KINDS = (PAYMENT, REFUND)
NO_FUNDS = "no_funds"
MAX_AMOUNT = Decimal("1000000000")
#: Who records a customer running out of funds and getting them back.
FUNDS = Actor.system("billing-funds")
_AMOUNT = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,10})?$")
_REFERENCE = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
UNSET: Any = object()


# -- pure rules -------------------------------------------------------------------------
def default_limit(mode: str) -> Decimal | None:
    """Prepaid: spend what was paid (0); postpaid: no limit."""
    return Decimal(0) if mode == PREPAID else None


@dataclass(frozen=True)
class Funds:
    """One customer's money as the log has it so far."""

    mode: str = POSTPAID
    credit_limit: Decimal | None = None
    payments: Decimal = Decimal(0)
    charges: Decimal = Decimal(0)

    @property
    def balance(self) -> Decimal:
        return self.payments - self.charges

    @property
    def available(self) -> Decimal | None:
        return None if self.credit_limit is None else self.balance + self.credit_limit

    @property
    def no_funds(self) -> bool:
        available = self.available
        return available is not None and available < 0

    def paid(self, amount: Decimal) -> Funds:
        return replace(self, payments=self.payments + amount)

    def charged(self, amount: Decimal) -> Funds:
        return replace(self, charges=self.charges + amount)

    def on_terms(self, mode: str, credit_limit: Decimal | None) -> Funds:
        return replace(self, mode=mode, credit_limit=credit_limit)


def _decimal(value: Any, what: str) -> Decimal:
    if not isinstance(value, str) or not _AMOUNT.match(value):
        raise InvalidValueError(f'{what} must be a decimal string such as "10.00", not {value!r}')
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise InvalidValueError(f"{what} is not a decimal number: {value!r}") from None
    if parsed > MAX_AMOUNT:
        raise InvalidValueError(f"{what} is above {MAX_AMOUNT}")
    return parsed


def amount(value: Any, what: str = "amount") -> Decimal:
    """A positive decimal string (never a JSON number), at most 10 decimals."""
    parsed = _decimal(value, what)
    if parsed <= 0:
        raise InvalidValueError(f"{what} must be more than 0")
    return parsed


def credit_limit(value: Any) -> Decimal | None:
    """A limit of 0 or more (how far below zero the balance may go), or None: no limit."""
    return None if value is None else _decimal(value, "credit_limit")


def terms(
    current: tuple[str, Decimal | None], mode: str | None, limit: Any = UNSET
) -> tuple[str, Decimal | None]:
    """The terms after a change: the fields given change; a new mode without a limit takes
    that mode's default limit. A prepaid customer always has a limit."""
    new_mode = current[0] if mode is None else mode
    if new_mode not in MODES:
        raise InvalidValueError(f"mode is one of {', '.join(MODES)}")
    if limit is UNSET:
        new_limit = current[1] if new_mode == current[0] else default_limit(new_mode)
    else:
        new_limit = credit_limit(limit)
    if new_mode == PREPAID and new_limit is None:
        raise InvalidValueError("a prepaid customer has a credit limit (0: what it paid)")
    return new_mode, new_limit


def payment_id(customer_id: UUID, reference: str) -> UUID:
    """Idempotent by reference: the same reference for the customer is the same payment."""
    return uuid5(customer_id, reference)


def no_funds_outage_id(customer_id: UUID, position: int) -> UUID:
    """The outage of the customer's funds run out by the event at `position` of the log:
    two watchers, or one restarted, record it once."""
    return uuid5(NAMESPACE_URL, f"switchlog:no-funds:{customer_id}:{position}")


# -- aggregates -------------------------------------------------------------------------
class PaymentTerms(CustomerOwned, SwitchlogAggregate):
    """How a customer pays: prepaid or postpaid, and its credit limit."""

    context = "billing"

    @staticmethod
    def create_id(customer_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"switchlog:payment-terms:{customer_id}")

    class Agreed(SwitchlogAggregate.Created):
        customer_id: UUID
        reseller_id: UUID | None
        mode: str
        credit_limit: Decimal | None

    def __init__(
        self, customer_id: UUID, reseller_id: UUID | None, mode: str, credit_limit: Decimal | None
    ) -> None:
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.mode = mode
        self.credit_limit = credit_limit

    class Revised(SwitchlogAggregate.Event):
        mode: str
        credit_limit: Decimal | None

        def apply(self, aggregate: Any) -> None:
            aggregate.mode = self.mode
            aggregate.credit_limit = self.credit_limit

    def revise(self, mode: str, limit: Decimal | None) -> bool:
        if (mode, limit) == (self.mode, self.credit_limit):
            return False
        self.trigger_event(self.Revised, mode=mode, credit_limit=limit)
        return True


class Payment(CustomerOwned, SwitchlogAggregate):
    """Money received from a customer (a top-up), or given back (`refund`: negative)."""

    context = "billing"

    @staticmethod
    def create_id(customer_id: UUID, reference: str) -> UUID:
        return payment_id(customer_id, reference)

    class Received(SwitchlogAggregate.Created):
        customer_id: UUID
        reseller_id: UUID | None
        kind: str
        amount: Decimal  # signed: a refund is negative
        currency: str
        reference: str
        note: str | None

    def __init__(
        self,
        customer_id: UUID,
        reseller_id: UUID | None,
        kind: str,
        amount: Decimal,
        currency: str,
        reference: str,
        note: str | None,
    ) -> None:
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.kind = kind
        self.amount = amount
        self.currency = currency
        self.reference = reference
        self.note = note


class PaymentReferenceError(ConflictError):
    """The reference names a payment of another amount or kind: a reference is used once."""

    code = "payment_reference_reused"


# -- use cases --------------------------------------------------------------------------
@dataclass(frozen=True)
class Received:
    payment_id: UUID
    new: bool  # False: that reference was received before; nothing was recorded


class FundsCommands:
    """Payment terms, payments, and no-funds outages (BillingService's use cases)."""

    def set_payment_terms(
        self, ctx: CommandContext, customer_id: UUID, mode: str | None, limit: Any = UNSET
    ) -> None:
        """Admins and the customer's reseller (billing Modify); the fields given change."""
        with self.command(ctx):  # type: ignore[attr-defined]
            customer = self._funds_customer(ctx, customer_id)
            customer.check_open()
            found = self._get(PaymentTerms.create_id(customer.id), PaymentTerms)  # type: ignore[attr-defined]
            current = (found.mode, found.credit_limit) if found else (POSTPAID, None)
            new_mode, new_limit = terms(current, mode, limit)
            if found is None:
                found = PaymentTerms(
                    customer_id=customer.id,
                    reseller_id=customer.reseller_id,
                    mode=new_mode,
                    credit_limit=new_limit,
                )
            else:
                found.belongs_to(customer.reseller_id)
                if not found.revise(new_mode, new_limit):
                    return
            self.save(found)  # type: ignore[attr-defined]

    def receive_payment(
        self,
        ctx: CommandContext,
        customer_id: UUID,
        value: Any,
        reference: str,
        note: str | None = None,
        kind: str = PAYMENT,
    ) -> Received:
        """A payment (or a refund) of the customer, once per reference."""
        with self.command(ctx):  # type: ignore[attr-defined]
            customer = self._funds_customer(ctx, customer_id)
            if not isinstance(reference, str) or not _REFERENCE.match(reference.strip()):
                raise InvalidValueError("reference holds 1 to 100 printable characters")
            reference = reference.strip()
            if kind not in KINDS:
                raise InvalidValueError(f"kind is one of {', '.join(KINDS)}")
            signed = amount(value) * (-1 if kind == REFUND else 1)
            existing = self._get(payment_id(customer.id, reference), Payment)  # type: ignore[attr-defined]
            if existing is not None:
                return _same(existing, signed, kind)
            if not customer.currency:
                raise InvalidValueError("the customer has no currency: set it before payments")
            payment = Payment(
                customer_id=customer.id,
                reseller_id=customer.reseller_id,
                kind=kind,
                amount=signed,
                currency=customer.currency,
                reference=reference,
                note=note,
            )
            try:
                self.save(payment)  # type: ignore[attr-defined]
            except IntegrityError:  # the same reference at the same moment: it won
                won = self.load(payment.id, Payment)  # type: ignore[attr-defined]
                return _same(won, signed, kind)
            return Received(payment.id, new=True)

    def record_no_funds(
        self,
        customer_id: UUID,
        reseller_id: UUID | None,
        position: int,
        start: datetime,
    ) -> bool:
        """The customer ran out of funds at `start` (the event at `position`): a no-funds
        outage with a deterministic id. False when it was recorded before."""
        try:
            with self.command(CommandContext(FUNDS)):  # type: ignore[attr-defined]
                outage = ServiceOutage._create(
                    ServiceOutage.Recorded,
                    id=no_funds_outage_id(customer_id, position),
                    condition=NO_FUNDS,
                    customer_id=customer_id,
                    reseller_id=reseller_id,
                    account_id=None,
                    start=start,
                    end=None,
                )
                self.save(outage)  # type: ignore[attr-defined]
        except ConflictError:  # recorded before (an integrity conflict on its id)
            return False
        return True

    def end_no_funds(self, customer_id: UUID, position: int, end: datetime) -> bool:
        """Funds are back at `end`: the outage begun at `position` ends (an instant one when
        both moments are equal). False when it had ended already."""
        try:
            with self.command(CommandContext(FUNDS)):  # type: ignore[attr-defined]
                outage = self.load(no_funds_outage_id(customer_id, position), ServiceOutage)  # type: ignore[attr-defined]
                if outage.end is not None:
                    return False
                outage.finish(max(end, outage.start + timedelta(microseconds=1)))
                self.save(outage)  # type: ignore[attr-defined]
        except ConflictError:  # another watcher ended it first
            return False
        return True

    def _funds_customer(self, ctx: CommandContext, customer_id: UUID) -> Customer:
        try:
            customer: Customer = self.load(customer_id, Customer)  # type: ignore[attr-defined]
        except NotFoundError:
            raise NotFoundError(f"customer {customer_id} not found") from None
        scope = Scope.of(ctx.actor)
        scope.require_visible(
            scope.sees_customer(customer.id, customer.reseller_id), f"customer {customer_id}"
        )
        ctx.require(Section.BILLING, Access.MODIFY)
        scope.require_reseller_or_admin()
        return customer


def _same(existing: Payment, signed: Decimal, kind: str) -> Received:
    if existing.amount != signed or existing.kind != kind:
        raise PaymentReferenceError(
            f"reference {existing.reference!r} was a {existing.kind} of {abs(existing.amount)};"
            " a reference is used once"
        )
    return Received(existing.id, new=False)


AGGREGATES: Sequence[type[SwitchlogAggregate]] = (PaymentTerms, Payment)
