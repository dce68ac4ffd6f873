"""Provisioning use cases: one method a command, get -> decide -> save."""

from __future__ import annotations

import re

from domain.directory.access import Scope, sees_event
from domain.provisioning.aggregates import CustomerNumber
from domain.provisioning.cpe import CpeCommands
from domain.provisioning.extensions import ExtensionCommands
from domain.shared.actor import CommandContext
from domain.shared.application import SwitchlogApplication
from domain.shared.errors import InvalidValueError, NotFoundError
from domain.shared.owners import Owner

NUMBER = "number"
_E164 = re.compile(r"^[1-9][0-9]{5,14}$")


def e164(number: str) -> str:
    """A number as E.164 digits (country code first, no '+', 6-15 digits)."""
    digits = number.strip().removeprefix("+")
    if not _E164.match(digits):
        raise InvalidValueError(f"{number!r} is not an E.164 number (6-15 digits, e.g. 4420...)")
    return digits


class ProvisioningService(CpeCommands, ExtensionCommands, SwitchlogApplication):
    """What customers are given: numbers, extensions and products, IP phones. Each area's
    commands live in its own module (cpe.py, extensions.py) and are mixed in here."""

    def set_customer_number(self, ctx: CommandContext, owner: Owner, number: str | None) -> int:
        """Give the customer `owner` names this number (None takes it away); numbers are
        unique across customers. `owner` is the customer as its own context knows it now."""
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            customer_id = owner.customer_id
            if customer_id is None or not sees_event(scope, [owner]):
                raise NotFoundError(f"customer {customer_id} not found")
            scope.require_reseller_or_admin()
            wanted = e164(number) if number is not None else None
            try:
                record = self.load(CustomerNumber.create_id(customer_id), CustomerNumber)
            except NotFoundError:
                record = None
            if record is None:
                record = CustomerNumber(
                    customer_id=customer_id, reseller_id=owner.reseller_id, number=wanted
                )
                claims = self.names.move(NUMBER, None, wanted, customer_id)
            else:
                record.belongs_to(owner.reseller_id)
                claims = self.names.move(NUMBER, record.number, wanted, customer_id)
                record.change_number(wanted)
            self.save(record, *claims)
            return record.version
