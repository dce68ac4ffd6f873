"""Provisioning use cases: one method a command, get -> decide -> save."""

from __future__ import annotations

import threading
from typing import Any

from eventsourcing.persistence import IntegrityError

from domain.directory.access import Scope, sees_event
from domain.provisioning.aggregates import CustomerNumber, NumberSequence
from domain.provisioning.cpe import CpeCommands
from domain.provisioning.extensions import ExtensionCommands
from domain.shared.actor import CommandContext
from domain.shared.errors import ConflictError, DuplicateError, InvalidValueError, NotFoundError
from domain.shared.owners import Owner

#: Reservations of customers' integer numbers (`number` held E.164 main numbers before).
CUSTOMER_NUMBER = "customer-number"
CUSTOMER_SERIES = "customers"
MAX_NUMBER = 2**53  # JSON clients keep integers exact up to here
#: Customer numbers a process reserves at once (hi/lo): one sequence append per block, not
#: one per customer, so concurrent creations do not all race on the sequence.
CUSTOMER_BLOCK = 50


class ProvisioningService(CpeCommands, ExtensionCommands):
    """What customers are given: numbers, extensions and products, IP phones. Each area's
    commands live in its own module (cpe.py, extensions.py) and are mixed in here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._numbers_lock = threading.Lock()
        self._free_numbers: list[int] = []

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
            allocated = number is None
            if number is None:
                number = self._next_customer_number()
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
                if allocated:  # an admin gave it meanwhile: a lost race, retried
                    raise ConflictError(f"number {number} was just taken; retry") from None
                raise
            self.save(record, *claims)
            return number

    def _next_customer_number(self) -> int:
        """The next free number of a block this process reserved. A reserved block is
        committed before its first number is used, so a number is never given twice, and
        numbers a process did not use (it stopped, or the creation failed) are skipped:
        never reused, but not gap-free."""
        while True:
            with self._numbers_lock:  # held for a pop; the store is read outside it
                if not self._free_numbers:
                    self._free_numbers = self._reserve_block()
                number = self._free_numbers.pop(0)
            if self.holder_of(CUSTOMER_NUMBER, str(number)) is None:
                return number  # an admin may have given it already

    def _reserve_block(self) -> list[int]:
        for _ in range(20):
            try:
                sequence: NumberSequence | None = self.load(
                    NumberSequence.create_id(CUSTOMER_SERIES), NumberSequence
                )
            except NotFoundError:
                sequence = None
            start = (sequence.last if sequence else 0) + 1
            end = start + CUSTOMER_BLOCK - 1
            if sequence is None:
                sequence = NumberSequence(series=CUSTOMER_SERIES, last=end)
            else:
                sequence.advance(end)
            try:
                self.save_now(sequence)
            except IntegrityError:
                continue  # another process reserved the block first: take the next one
            return list(range(start, end + 1))
        raise ConflictError("customer numbers are contended; retry")
