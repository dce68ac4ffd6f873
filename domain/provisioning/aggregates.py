"""A customer's main number, which provisioning contributes to the directory's customer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.owners import Owner


class CustomerNumber(SwitchlogAggregate):
    """The number a customer is reached at (E.164 digits), one aggregate per customer."""

    context = "provisioning"

    @staticmethod
    def create_id(customer_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"switchlog:customer-number:{customer_id}")

    class Assigned(SwitchlogAggregate.Created):
        customer_id: UUID
        reseller_id: UUID | None
        number: str | None

    def __init__(self, customer_id: UUID, reseller_id: UUID | None, number: str | None) -> None:
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.number = number

    class Reassigned(SwitchlogAggregate.Changed):
        """A new number, or none."""

        fields = frozenset({"number"})

    def change_number(self, number: str | None) -> None:
        self.change(self.Reassigned, number=number)

    def belongs_to(self, reseller_id: UUID | None) -> None:
        """The customer's reseller now (the service tells it; see `Account.belongs_to`)."""
        self.reseller_id = reseller_id

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        return (Owner(fields["reseller_id"], fields["customer_id"]),)

    def owners(self) -> Sequence[Owner]:
        return (Owner(self.reseller_id, self.customer_id),)
