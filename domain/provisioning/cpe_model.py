"""The CPE inventory's aggregates: device models, CPE profiles, phones, the inventory-id
counter and batch uploads. Every change is an intent-named event with owners."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.errors import ConflictError, InvalidValueError
from domain.shared.owners import Owner

Changed = SwitchlogAggregate.Changed


class PortTakenError(ConflictError):
    """The phone's port is assigned to another extension."""

    code = "port_taken"


class PhoneNotAllocatedError(ConflictError):
    """Ports are assigned only on a phone allocated to the extension's customer."""

    code = "phone_not_allocated"


class PhoneInUseError(ConflictError):
    """The phone has ports assigned: unassign them before it leaves its customer."""

    code = "phone_in_use"


class DeviceModel(SwitchlogAggregate):
    """A phone model (e.g. Yealink SIP-T21P E2) and how many lines (ports) it has."""

    context = "provisioning"

    class Added(SwitchlogAggregate.Created):
        name: str
        ports: int

    def __init__(self, name: str, ports: int) -> None:
        self.name = name
        self.ports = ports


class CpeProfile(SwitchlogAggregate):
    """A provisioning profile (configuration template) phones can be given."""

    context = "provisioning"

    class Added(SwitchlogAggregate.Created):
        name: str

    def __init__(self, name: str) -> None:
        self.name = name


class Phone(SwitchlogAggregate):
    """An IP phone in the inventory: allocated to a customer, its ports to extensions."""

    context = "provisioning"

    class Added(SwitchlogAggregate.Created):
        name: str
        model_id: UUID
        ports: int
        mac: str
        profile_id: UUID | None
        managed_by: UUID | None
        shared: bool
        inventory_id: int

    def __init__(
        self,
        name: str,
        model_id: UUID,
        ports: int,
        mac: str,
        profile_id: UUID | None,
        managed_by: UUID | None,
        shared: bool,
        inventory_id: int,
    ) -> None:
        self.name = name
        self.model_id = model_id
        self.ports = ports
        self.mac = mac
        self.profile_id = profile_id
        self.managed_by = managed_by
        self.shared = shared
        self.inventory_id = inventory_id
        self.customer_id: UUID | None = None
        self.customer_reseller_id: UUID | None = None
        self.assignments: dict[int, UUID] = {}
        self.status = "active"

    class Allocated(Changed):
        """The phone now belongs to a customer (or moved from one customer to another)."""

        fields = frozenset({"customer_id", "customer_reseller_id"})

    class Released(Changed):
        """The phone went back to the stock: no customer."""

        fields = frozenset({"customer_id", "customer_reseller_id"})

    class PortAssigned(SwitchlogAggregate.Event):
        port: int
        account_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.assignments[self.port] = self.account_id

    class PortUnassigned(SwitchlogAggregate.Event):
        port: int
        account_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.assignments.pop(self.port, None)

    class Removed(Changed):
        """Taken out of the inventory; its MAC address may be added again."""

        fields = frozenset({"status"})

    # -- decisions ---------------------------------------------------------------------
    def belongs_to(self, reseller_id: UUID | None) -> None:
        """The customer's reseller now (the service tells it; see `Account.belongs_to`)."""
        self.customer_reseller_id = reseller_id

    def allocate(self, customer_id: UUID | None, reseller_id: UUID | None) -> bool:
        """Give the phone to a customer, or back to the stock (None); False: no change."""
        if customer_id == self.customer_id:
            return False
        if self.assignments:
            raise PhoneInUseError(
                f"phone {self.mac} has ports assigned to extensions; unassign them first"
            )
        new = Owner(reseller_id, customer_id) if customer_id else None
        old = Owner(self.customer_reseller_id, self.customer_id) if self.customer_id else None
        # Both customers see the move, the new one first (as Customer.Moved does).
        self._involved = [o for o in (new, old) if o is not None]
        try:
            event = self.Allocated if customer_id else self.Released
            self.change(event, customer_id=customer_id, customer_reseller_id=reseller_id)
        finally:
            self._involved = []
        return True

    def check_port(self, port: int) -> None:
        if not 1 <= port <= self.ports:
            raise InvalidValueError(f"phone {self.mac} has ports 1 to {self.ports}, not {port}")

    def assign(self, port: int, account_id: UUID) -> bool:
        """Put an extension (its account) on a free port; False when it is there already."""
        self.check_port(port)
        if self.customer_id is None:
            raise PhoneNotAllocatedError(f"phone {self.mac} is not allocated to a customer")
        holder = self.assignments.get(port)
        if holder == account_id:
            return False
        if holder is not None:
            raise PortTakenError(f"port {port} of phone {self.mac} is assigned to account {holder}")
        self._with_account(account_id, self.PortAssigned, port=port, account_id=account_id)
        return True

    def unassign(self, port: int) -> UUID | None:
        """Free a port; the account that was on it (None: it was free already)."""
        self.check_port(port)
        holder = self.assignments.get(port)
        if holder is not None:
            self._with_account(holder, self.PortUnassigned, port=port, account_id=holder)
        return holder

    def remove(self) -> None:
        if self.assignments:
            raise PhoneInUseError(
                f"phone {self.mac} has ports assigned to extensions; unassign them first"
            )
        self.change(self.Removed, status="removed")

    def port_of(self, account_id: UUID) -> int | None:
        return next((p for p, a in self.assignments.items() if a == account_id), None)

    def _with_account(self, holder: UUID, event: Any, **fields: Any) -> None:
        owner = Owner(self.customer_reseller_id, self.customer_id, holder)
        self._involved = [owner, *self._managers()]
        try:
            self.trigger_event(event, **fields)
        finally:
            self._involved = []

    # -- owners ------------------------------------------------------------------------
    def _managers(self) -> list[Owner]:
        return [Owner(self.managed_by)] if self.managed_by else []

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        return (Owner(fields["managed_by"]),) if fields.get("managed_by") else ()

    def owners(self) -> Sequence[Owner]:
        involved = getattr(self, "_involved", None)
        if involved:
            return [*involved, *(o for o in self._managers() if o not in involved)]
        holder = [Owner(self.customer_reseller_id, self.customer_id)] if self.customer_id else []
        return [*holder, *self._managers()]


class CpeInventory(SwitchlogAggregate):
    """Issues inventory ids (1, 2, 3...): one counter, so ids are never reused."""

    context = "provisioning"

    @staticmethod
    def create_id() -> UUID:
        return uuid5(NAMESPACE_URL, "switchlog:cpe-inventory")

    class Opened(SwitchlogAggregate.Created):
        audited = False
        next_id: int

    def __init__(self, next_id: int) -> None:
        self.next_id = next_id

    class IdsIssued(SwitchlogAggregate.Event):
        audited = False
        count: int

        def apply(self, aggregate: Any) -> None:
            aggregate.next_id += self.count

    def issue(self, count: int) -> None:
        """Take `count` ids from `next_id` on (read them before calling)."""
        if count:
            self.trigger_event(self.IdsIssued, count=count)


class CpeUpload(SwitchlogAggregate):
    """A batch upload of phones: its progress is its events, appended with the rows."""

    context = "provisioning"

    class Started(SwitchlogAggregate.Created):
        filename: str
        file_format: str
        rows_total: int
        reseller_id: UUID | None

    def __init__(
        self, filename: str, file_format: str, rows_total: int, reseller_id: UUID | None
    ) -> None:
        self.filename = filename
        self.file_format = file_format
        self.rows_total = rows_total
        self.reseller_id = reseller_id
        self.status = "running"
        self.reason: str | None = None
        self.last_row = 1
        self.rows_applied = 0
        self.rows_unchanged = 0
        self.rows_failed = 0

    class BatchApplied(SwitchlogAggregate.Event):
        """Rows up to `last_row` are decided: this batch's phones are in the same append."""

        last_row: int
        applied: int
        unchanged: int
        errors: list[dict[str, Any]]

        def apply(self, aggregate: Any) -> None:
            aggregate.last_row = self.last_row
            aggregate.rows_applied += self.applied
            aggregate.rows_unchanged += self.unchanged
            aggregate.rows_failed += len({e["row"] for e in self.errors})

    class Finished(Changed):
        fields = frozenset({"status"})

    class Failed(Changed):
        """The job stopped before the end (a fault, or its process died)."""

        fields = frozenset({"status", "reason"})

    def record(self, last_row: int, applied: int, unchanged: int, errors: list[Any]) -> None:
        self._check_running()
        self.trigger_event(
            self.BatchApplied,
            last_row=last_row,
            applied=applied,
            unchanged=unchanged,
            errors=errors,
        )

    def finish(self) -> None:
        self._check_running()
        self.change(self.Finished, status="done")

    def fail(self, reason: str) -> None:
        if self.status == "running":
            self.change(self.Failed, status="failed", reason=reason)

    def _check_running(self) -> None:
        if self.status != "running":
            raise ConflictError(f"upload {self.id} is {self.status}")

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        return (Owner(fields["reseller_id"]),) if fields.get("reseller_id") else ()

    def owners(self) -> Sequence[Owner]:
        return (Owner(self.reseller_id),) if self.reseller_id else ()
