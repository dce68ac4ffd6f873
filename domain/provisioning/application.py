"""Provisioning use cases: one method a command, get -> decide -> save."""

from __future__ import annotations

from domain.directory.access import Scope, sees_event
from domain.provisioning.aggregates import CustomerNumber
from domain.provisioning.cpe import CpeCommands
from domain.provisioning.extensions import ExtensionCommands
from domain.shared.actor import CommandContext
from domain.shared.errors import ConflictError, DuplicateError, InvalidValueError, NotFoundError
from domain.shared.owners import Owner

#: Reservations of customers' integer numbers (`number` held E.164 main numbers before).
CUSTOMER_NUMBER = "customer-number"
CUSTOMER_SERIES = "customers"
MAX_NUMBER = 2**53  # JSON clients keep integers exact up to here


class ProvisioningService(CpeCommands, ExtensionCommands):
    """What customers are given: numbers, extensions and products, IP phones. Each area's
    commands live in its own module (cpe.py, extensions.py) and are mixed in here."""

    def number_customer(self, ctx: CommandContext, owner: Owner, number: int | None) -> int:
        """Give the customer `owner` names its number, once: `number` if given (admins
        only; 409 if another customer holds it), else the next free one. `owner` is the
        customer as its own context knows it now. Returns the number."""
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            customer_id = owner.customer_id
            if customer_id is None or not sees_event(scope, [owner]):
                raise NotFoundError(f"customer {customer_id} not found")
            scope.require_reseller_or_admin()
            try:
                record = self.load(CustomerNumber.create_id(customer_id), CustomerNumber)
            except NotFoundError:
                record = None
            saved: list[object] = []
            if number is None:
                number, sequence = self.allocate(
                    CUSTOMER_SERIES, lambda n: self.holder_of(CUSTOMER_NUMBER, str(n)) is not None
                )
                saved.append(sequence)
            else:
                scope.require_admin()
                if not 1 <= number <= MAX_NUMBER:
                    raise InvalidValueError(f"a customer's number is 1 to {MAX_NUMBER}")
            if record is None:
                record = CustomerNumber(
                    customer_id=customer_id, reseller_id=owner.reseller_id, number=number
                )
            else:
                record.belongs_to(owner.reseller_id)
                record.give(number)
            try:
                claims = self.names.claim(CUSTOMER_NUMBER, str(number), customer_id)
            except DuplicateError:
                if saved:  # another creation took the free number first: a lost race
                    raise ConflictError(f"number {number} was just taken; retry") from None
                raise
            self.save(record, *claims, *saved)
            return number
