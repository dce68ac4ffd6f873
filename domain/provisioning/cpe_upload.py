"""Batch upload of phones: rows decided in batches, each batch one append with its progress.

A batch's phones, MAC reservations, inventory ids and the upload's `BatchApplied` event are
saved together, so a row is applied whole or not at all, and the job's progress never
claims more than the inventory holds, even if the process dies between two batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from domain.directory.access import Scope
from domain.directory.aggregates import Customer, Reseller
from domain.directory.application import CUSTOMER_NAME, RESELLER_NAME
from domain.provisioning.cpe_model import CpeInventory, CpeUpload, DeviceModel, Phone
from domain.provisioning.cpe_rows import RowError, UploadRow, shown
from domain.shared.actor import CommandContext
from domain.shared.application import SwitchlogApplication
from domain.shared.errors import ConflictError, NotFoundError
from domain.shared.index import NameIndex
from domain.shared.permissions import Access, Section

T = TypeVar("T")

MAC = "mac"  # a MAC address is held by one phone of the inventory at a time
MODEL_NAME = "cpe-model"
PROFILE_NAME = "cpe-profile"
ON_PORT = "cpe-extension"  # an extension (its account id) is on one phone port at a time


def sees_phone(scope: Scope, phone: Phone) -> bool:
    """Admins see every phone; a reseller those it manages or that are shared; a customer
    those allocated to it; an account none."""
    if phone.status != "active":
        return False
    if scope.unrestricted:
        return True
    if scope.reseller_id is not None:
        return phone.managed_by == scope.reseller_id or phone.shared
    return scope.customer_id is not None and phone.customer_id == scope.customer_id


@dataclass
class UploadLookups:
    """What one job has looked up already (names), and the MACs its file named so far."""

    models: dict[str, DeviceModel | None] = field(default_factory=dict)
    profiles: dict[str, UUID | None] = field(default_factory=dict)
    resellers: dict[str, Reseller | None] = field(default_factory=dict)
    customers: dict[str, Customer | None] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)  # MAC -> the first row naming it


@dataclass(frozen=True)
class BatchOutcome:
    applied: int
    unchanged: int
    errors: list[RowError]


class CpeUploadCommands(SwitchlogApplication):
    """The upload's use cases, and the lookups every CPE use case shares."""

    def start_upload(
        self,
        ctx: CommandContext,
        upload_id: UUID,
        filename: str,
        file_format: str,
        rows_total: int,
    ) -> UUID:
        with self.command(ctx):
            ctx.require(Section.PHONES, Access.MODIFY)
            scope = Scope.of(ctx.actor)
            scope.require_reseller_or_admin()
            upload = CpeUpload._create(
                CpeUpload.Started,
                id=upload_id,
                filename=shown(filename) or "upload",
                file_format=file_format,
                rows_total=rows_total,
                reseller_id=scope.reseller_id,
            )
            self.save(upload)
            return upload.id

    def apply_upload_batch(
        self,
        ctx: CommandContext,
        upload_id: UUID,
        rows: Sequence[UploadRow | list[RowError]],
        last_row: int,
        lookups: UploadLookups,
    ) -> BatchOutcome:
        """Decide each row and append the batch (phones and progress) in one save."""

        def attempt() -> BatchOutcome:
            with self.command(ctx):
                ctx.require(Section.PHONES, Access.MODIFY)
                scope = Scope.of(ctx.actor)
                scope.require_reseller_or_admin()
                upload = self.load(upload_id, CpeUpload)
                batch = _Batch(self, scope, lookups)
                for row in rows:
                    batch.decide(row)
                batch.close()
                errors = [e.as_dict() for e in batch.errors]
                upload.record(last_row, batch.applied, batch.unchanged, errors)
                self.save(*batch.aggregates, upload)
            lookups.seen.update(batch.seen)
            return BatchOutcome(batch.applied, batch.unchanged, batch.errors)

        return self.retrying(attempt)

    def finish_upload(self, ctx: CommandContext, upload_id: UUID) -> None:
        with self.command(ctx):
            upload = self.load(upload_id, CpeUpload)
            upload.finish()
            self.save(upload)

    def fail_upload(self, ctx: CommandContext, upload_id: UUID, reason: str) -> None:
        """Mark a job failed (a fault, or its process died); rows applied so far stay."""
        with self.command(ctx):
            upload = self.load(upload_id, CpeUpload)
            upload.fail(reason[:500])
            self.save(upload)

    def upload_status(self, upload_id: UUID) -> str:
        """The job's status as the log has it (not a read model's)."""
        return self.load(upload_id, CpeUpload).status

    # -- shared by the CPE use cases ---------------------------------------------------
    def retrying(self, attempt: Callable[[], T], tries: int = 3) -> T:
        """Run a use case again when another writer changed its aggregates first: it then
        decides on the new state (a port taken meanwhile is refused, not overwritten)."""
        for left in range(tries - 1, -1, -1):
            try:
                return attempt()
            except ConflictError as error:
                if type(error) is not ConflictError or not left:
                    raise
        raise AssertionError("unreachable")

    def visible_customer(self, scope: Scope, customer_id: UUID) -> Customer:
        customer = self.load(customer_id, Customer)
        visible = scope.sees_customer(customer.id, customer.reseller_id)
        scope.require_visible(visible, f"customer {customer_id}")
        customer.check_open()
        return customer

    def visible_phone(self, scope: Scope, phone_id: UUID) -> Phone:
        phone = self.load(phone_id, Phone)
        scope.require_visible(sees_phone(scope, phone), f"phone {phone_id}")
        return phone

    def current(self, phone: Phone) -> Phone:
        """The phone told its customer's reseller now (the customer may have moved)."""
        if phone.customer_id is not None:
            phone.belongs_to(self.load(phone.customer_id, Customer).reseller_id)
        return phone

    def inventory(self) -> CpeInventory:
        try:
            return self.load(CpeInventory.create_id(), CpeInventory)
        except NotFoundError:
            return CpeInventory(next_id=1)

    def mac_index(self, mac: str) -> NameIndex | None:
        return self._index(MAC, mac)


class _Batch:
    """One batch's decisions: the aggregates to save, the counts and the row errors."""

    def __init__(self, service: CpeUploadCommands, scope: Scope, lookups: UploadLookups):
        self.service = service
        self.scope = scope
        self.lookups = lookups
        self.aggregates: list[Any] = []
        self.errors: list[RowError] = []
        self.applied = 0
        self.unchanged = 0
        self.seen: dict[str, int] = {}
        self._inventory: CpeInventory | None = None
        self._issued = 0

    def decide(self, row: UploadRow | list[RowError]) -> None:
        if isinstance(row, list):
            self.errors += row
            return
        first = self.lookups.seen.get(row.mac) or self.seen.get(row.mac)
        if first is not None:
            self._fault(row, "MAC address", row.mac, f"duplicate MAC address: row {first} has it")
            return
        self.seen[row.mac] = row.row
        if row.action == "remove":
            self._remove(row)
        else:
            self._add(row)

    def close(self) -> None:
        if self._inventory is not None:
            self._inventory.issue(self._issued)
            self.aggregates.append(self._inventory)

    # -- rows --------------------------------------------------------------------------
    def _add(self, row: UploadRow) -> None:
        refs = self._resolve(row)
        if refs is None:
            return
        model, profile_id, manager, tenant = refs
        index = self.service.mac_index(row.mac)
        holder = index.subject_id if index is not None else None
        if holder is not None:
            phone = self.service.load(holder, Phone)
            same = (
                sees_phone(self.scope, phone)
                and (phone.name, phone.model_id) == (row.name, model.id)
                and (phone.profile_id, phone.managed_by) == (profile_id, manager)
                and phone.shared == row.shared
                and (tenant is None or phone.customer_id == tenant.id)
            )
            if same:
                self.unchanged += 1
            else:
                self._fault(row, "MAC address", row.mac, "this MAC address is in the inventory")
            return
        phone = Phone(
            name=row.name,
            model_id=model.id,
            ports=model.ports,
            mac=row.mac,
            profile_id=profile_id,
            managed_by=manager,
            shared=row.shared,
            inventory_id=self._next_inventory_id(),
        )
        if tenant is not None:
            phone.allocate(tenant.id, tenant.reseller_id)
        if index is None:
            index = NameIndex(kind=MAC, value=row.mac, subject_id=phone.id)
        else:
            index.assign(phone.id)
        self.aggregates += [phone, index]
        self.applied += 1

    def _remove(self, row: UploadRow) -> None:
        index = self.service.mac_index(row.mac)
        if index is not None and index.subject_id is None:
            self.unchanged += 1  # removed already (by this file before, or by anyone)
            return
        phone = self._load(index.subject_id if index is not None else None, Phone)
        if phone is None or index is None or not sees_phone(self.scope, phone):
            self._fault(row, "MAC address", row.mac, "no phone has this MAC address")
            return
        if phone.assignments:
            self._fault(row, "MAC address", row.mac, "the phone has ports assigned to extensions")
            return
        self.service.current(phone).remove()
        index.assign(None)
        self.aggregates += [phone, index]
        self.applied += 1

    # -- lookups -----------------------------------------------------------------------
    def _resolve(
        self, row: UploadRow
    ) -> tuple[DeviceModel, UUID | None, UUID | None, Customer | None] | None:
        before = len(self.errors)
        model = self._model(row.model)
        if model is None:
            self._fault(row, "Device model", row.model, "unknown device model")
        profile_id = self._profile(row.profile) if row.profile else None
        if row.profile and profile_id is None:
            self._fault(row, "CPE profile", row.profile, "unknown CPE profile")
        manager = self._manager(row)
        if row.shared and not self.scope.unrestricted:
            self._fault(row, "Shared with reseller", "Y", "only an administrator shares phones")
        tenant = self._customer(row.tenant) if row.tenant else None
        if row.tenant and tenant is None:
            self._fault(row, "Tenant customer name", row.tenant, "unknown customer")
        elif tenant is not None and tenant.status != "open":
            self._fault(row, "Tenant customer name", tenant.name, "the customer is closed")
        if len(self.errors) > before or model is None:
            return None
        return model, profile_id, manager, tenant

    def _manager(self, row: UploadRow) -> UUID | None:
        own = self.scope.reseller_id
        if row.managed_by is None:
            return own
        reseller = self._reseller(row.managed_by)
        if reseller is None or (own is not None and reseller.id != own):
            self._fault(row, "Managed by", row.managed_by, "unknown reseller")
            return None
        if reseller.status != "open":
            self._fault(row, "Managed by", row.managed_by, "the reseller is closed")
        return reseller.id if reseller is not None else None

    def _model(self, name: str) -> DeviceModel | None:
        key = name.casefold()
        if key not in self.lookups.models:
            holder = self.service.holder_of(MODEL_NAME, name)
            self.lookups.models[key] = self._load(holder, DeviceModel)
        return self.lookups.models[key]

    def _profile(self, name: str) -> UUID | None:
        key = name.casefold()
        if key not in self.lookups.profiles:
            self.lookups.profiles[key] = self.service.holder_of(PROFILE_NAME, name)
        return self.lookups.profiles[key]

    def _reseller(self, name: str) -> Reseller | None:
        key = name.casefold()
        if key not in self.lookups.resellers:
            holder = self.service.holder_of(RESELLER_NAME, name)
            self.lookups.resellers[key] = self._load(holder, Reseller)
        return self.lookups.resellers[key]

    def _customer(self, name: str) -> Customer | None:
        key = name.casefold()
        if key not in self.lookups.customers:
            holder = self.service.holder_of(CUSTOMER_NAME, name)
            self.lookups.customers[key] = self._load(holder, Customer)
        customer = self.lookups.customers[key]
        visible = customer is not None and self.scope.sees_customer(
            customer.id, customer.reseller_id
        )
        return customer if visible else None

    def _load(self, holder: UUID | None, kind: type[T]) -> T | None:
        if holder is None:
            return None
        try:
            return self.service.load(holder, kind)  # type: ignore[type-var]
        except NotFoundError:
            return None

    def _next_inventory_id(self) -> int:
        if self._inventory is None:
            self._inventory = self.service.inventory()
        self._issued += 1
        return self._inventory.next_id + self._issued - 1

    def _fault(self, row: UploadRow, column: str, value: str, reason: str) -> None:
        self.errors.append(RowError(row.row, column, shown(value), reason))
