"""A customer's integer number (PortaBilling's i_customer), and the series numbers come from.

The number is provisioning's and is contributed to the directory's customer. Before it was
an integer it was an E.164 "main number" string: those events still replay, the string
kept as `main_number` (shown nowhere, still in the log and the audit trail).
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.shared.aggregate import CustomerOwned, SwitchlogAggregate
from domain.shared.errors import ConflictError


class NumberAssignedError(ConflictError):
    """A customer's number is assigned once and never changes."""

    code = "number_assigned"


class CustomerNumber(CustomerOwned, SwitchlogAggregate):
    """The number a customer is known by (`ph{number}x466`), one aggregate per customer."""

    context = "provisioning"

    @staticmethod
    def create_id(customer_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"switchlog:customer-number:{customer_id}")

    class Assigned(SwitchlogAggregate.Created):
        # v1 held an E.164 main number in `number`; v2 holds the integer number there.
        class_version = 2

        customer_id: UUID
        reseller_id: UUID | None
        number: int | None
        main_number: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["main_number"] = state.pop("number", None)
            state["number"] = None

    def __init__(
        self,
        customer_id: UUID,
        reseller_id: UUID | None,
        number: int | None,
        main_number: str | None = None,
    ) -> None:
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.number = number
        self.main_number = main_number

    class Reassigned(SwitchlogAggregate.Changed):
        """A new E.164 main number, or none (before numbers were integers). Replayed,
        never triggered."""

        class_version = 2
        fields = frozenset({"main_number"})

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            changes = state.get("changes", {})
            if "number" in changes:
                changes["main_number"] = changes.pop("number")

    class Numbered(SwitchlogAggregate.Changed):
        """A customer created before numbers were integers got its number."""

        fields = frozenset({"number"})

    def give(self, number: int) -> None:
        if self.number is not None:
            raise NumberAssignedError(
                f"the customer's number is {self.number}; a number is assigned once"
            )
        self.change(self.Numbered, number=number)


class NumberSequence(SwitchlogAggregate):
    """The last number handed out from a series (customers' numbers, a customer's auto
    attendants). Two writers advancing it race on its version: one wins, one retries."""

    context = "provisioning"

    @staticmethod
    def create_id(series: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"switchlog:number-sequence:{series}")

    class Started(SwitchlogAggregate.Created):
        audited = False

        series: str
        last: int

    def __init__(self, series: str, last: int) -> None:
        self.series = series
        self.last = last

    class Advanced(SwitchlogAggregate.Changed):
        audited = False
        fields = frozenset({"last"})

    def advance(self, last: int) -> None:
        self.change(self.Advanced, last=last)
