"""IP phone (CPE) inventory: device models, CPE profiles, phones, allocation to customers,
ports assigned to extensions, batch uploads.

Admins and resellers add phones and allocate them to customers (looked up by MAC); the
customer puts an extension (its account) on a free port of an allocated phone. A phone is
one aggregate, so two writers assigning one port conflict in the store and one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from domain.directory.access import Scope
from domain.directory.aggregates import Account, Reseller
from domain.provisioning.cpe_model import (
    CpeInventory,
    CpeProfile,
    CpeUpload,
    DeviceModel,
    Phone,
    PhoneNotAllocatedError,
)
from domain.provisioning.cpe_rows import device_name, mac_address
from domain.provisioning.cpe_upload import (
    MAC,
    MODEL_NAME,
    ON_PORT,
    PROFILE_NAME,
    CpeUploadCommands,
    sees_phone,
)
from domain.shared import values
from domain.shared.actor import CommandContext
from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.errors import (
    DuplicateError,
    ForbiddenError,
    InvalidValueError,
    NotFoundError,
)
from domain.shared.index import NameIndex
from domain.shared.permissions import Access, Section

#: This module's aggregates (provisioning's registration lists them).
AGGREGATES: tuple[type[SwitchlogAggregate], ...] = (
    DeviceModel,
    CpeProfile,
    Phone,
    CpeInventory,
    CpeUpload,
)
MAX_PORTS = 64


class CpeCommands(CpeUploadCommands):
    """Provisioning's use cases for this area (mixed into ProvisioningService)."""

    # -- catalogue (admins) ------------------------------------------------------------
    def add_device_model(self, ctx: CommandContext, name: str, ports: int) -> UUID:
        with self.command(ctx):
            Scope.of(ctx.actor).require_admin()
            if not 1 <= ports <= MAX_PORTS:
                raise InvalidValueError(f"a device model has 1 to {MAX_PORTS} ports")
            model = DeviceModel(name=values.human_id(name, "name"), ports=ports)
            self.save(model, *self.names.claim(MODEL_NAME, name, model.id))
            return model.id

    def add_cpe_profile(self, ctx: CommandContext, name: str) -> UUID:
        with self.command(ctx):
            Scope.of(ctx.actor).require_admin()
            profile = CpeProfile(name=values.human_id(name, "name"))
            self.save(profile, *self.names.claim(PROFILE_NAME, name, profile.id))
            return profile.id

    # -- phones (admins and resellers) -------------------------------------------------
    def add_phone(
        self,
        ctx: CommandContext,
        name: str,
        model_id: UUID,
        mac: str,
        profile_id: UUID | None = None,
        managed_by: UUID | None = None,
        shared: bool = False,
        customer_id: UUID | None = None,
    ) -> UUID:
        """Put a phone in the inventory (a reseller's phones are managed by it)."""

        def attempt() -> UUID:
            with self.command(ctx):
                scope = self._stock_keeper(ctx)
                manager = _manager(scope, managed_by, shared)
                model = self.load(model_id, DeviceModel)
                if profile_id is not None:
                    self.load(profile_id, CpeProfile)
                if manager is not None:
                    self.load(manager, Reseller).check_open()
                address = mac_address(mac)
                index = self.mac_index(address)
                if index is not None and index.subject_id is not None:
                    raise DuplicateError(f"MAC address {address} is in the inventory already")
                customer = self.visible_customer(scope, customer_id) if customer_id else None
                inventory = self.inventory()
                phone = Phone(
                    name=device_name(name),
                    model_id=model.id,
                    ports=model.ports,
                    mac=address,
                    profile_id=profile_id,
                    managed_by=manager,
                    shared=shared,
                    inventory_id=inventory.next_id,
                )
                inventory.issue(1)
                if customer is not None:
                    phone.allocate(customer.id, customer.reseller_id)
                self.save(phone, inventory, *self.names.claim(MAC, address, phone.id))
                return phone.id

        return self.retrying(attempt)

    def allocate_phones(
        self, ctx: CommandContext, macs: Sequence[str], customer_id: UUID | None
    ) -> list[tuple[UUID, int]]:
        """Give the phones with these MACs to a customer (None: back to the stock), all or
        none of them; each phone's id and version."""

        def attempt() -> list[tuple[UUID, int]]:
            with self.command(ctx):
                scope = self._stock_keeper(ctx)
                customer = self.visible_customer(scope, customer_id) if customer_id else None
                phones: dict[str, Phone] = {}
                for raw in macs:
                    address = mac_address(raw)
                    if address not in phones:
                        phones[address] = self.current(self._phone_by_mac(scope, address))
                for phone in phones.values():
                    if customer is None:
                        phone.allocate(None, None)
                    else:
                        phone.allocate(customer.id, customer.reseller_id)
                self.save(*phones.values())
                return [(phone.id, phone.version) for phone in phones.values()]

        return self.retrying(attempt)

    def remove_phone(self, ctx: CommandContext, phone_id: UUID) -> None:
        """Take a phone out of the inventory; its MAC address may be added again."""
        with self.command(ctx):
            scope = self._stock_keeper(ctx)
            phone = self.current(self.visible_phone(scope, phone_id))
            phone.remove()
            self.save(phone, *self.names.release(MAC, phone.mac))

    # -- ports (customers, and those who see the phone) --------------------------------
    def assign_port(self, ctx: CommandContext, phone_id: UUID, port: int, account_id: UUID) -> int:
        """Put an extension on a free port of a phone allocated to its customer."""

        def attempt() -> int:
            with self.command(ctx):
                scope = self._port_keeper(ctx)
                phone = self.current(self.visible_phone(scope, phone_id))
                phone.check_port(port)
                if phone.assignments.get(port) == account_id:
                    return phone.version
                account = self._extension(phone, account_id)
                elsewhere = phone.port_of(account.id)
                if elsewhere is not None:
                    raise DuplicateError(
                        f"account {account.login} is on port {elsewhere} of this phone; move it"
                    )
                claims = self.names.claim(ON_PORT, str(account.id), phone.id)
                phone.assign(port, account.id)
                self.save(phone, *claims)
                return phone.version

        return self.retrying(attempt)

    def unassign_port(self, ctx: CommandContext, phone_id: UUID, port: int) -> int:
        """Free a port of a phone (nothing happens when it is free already)."""

        def attempt() -> int:
            with self.command(ctx):
                scope = self._port_keeper(ctx)
                phone = self.current(self.visible_phone(scope, phone_id))
                holder = phone.unassign(port)
                if holder is not None:
                    self.save(phone, *self.names.release(ON_PORT, str(holder)))
                return phone.version

        return self.retrying(attempt)

    def move_port(
        self,
        ctx: CommandContext,
        phone_id: UUID,
        port: int,
        to_phone_id: UUID | None,
        to_port: int,
    ) -> tuple[UUID, int]:
        """Move the extension on a port to another free port, of this phone or another
        phone of the same customer, in one append; the phone it is now on, and its version."""

        def attempt() -> tuple[UUID, int]:
            with self.command(ctx):
                scope = self._port_keeper(ctx)
                source = self.current(self.visible_phone(scope, phone_id))
                source.check_port(port)
                account_id = source.assignments.get(port)
                if account_id is None:
                    raise InvalidValueError(f"port {port} of phone {source.mac} is free")
                same = to_phone_id in (None, source.id)
                target = source if same else self.current(self.visible_phone(scope, to_phone_id))  # type: ignore[arg-type]
                if same and to_port == port:
                    return source.id, source.version
                target.check_port(to_port)
                if target.customer_id != source.customer_id:
                    raise PhoneNotAllocatedError(
                        f"phone {target.mac} is not allocated to the extension's customer"
                    )
                source.unassign(port)
                target.assign(to_port, account_id)
                claims: list[NameIndex] = []
                if not same:
                    index = self._index(ON_PORT, str(account_id))
                    if index is not None:
                        index.assign(target.id)
                        claims.append(index)
                self.save(*{id(a): a for a in (source, target)}.values(), *claims)
                return target.id, target.version

        return self.retrying(attempt)

    # -- helpers -----------------------------------------------------------------------
    def _stock_keeper(self, ctx: CommandContext) -> Scope:
        ctx.require(Section.PHONES, Access.MODIFY)
        scope = Scope.of(ctx.actor)
        scope.require_reseller_or_admin()
        return scope

    def _port_keeper(self, ctx: CommandContext) -> Scope:
        ctx.require(Section.PHONES, Access.MODIFY)
        scope = Scope.of(ctx.actor)
        if scope.account_id is not None:
            raise ForbiddenError("the account realm may not assign phone ports")
        return scope

    def _phone_by_mac(self, scope: Scope, address: str) -> Phone:
        holder = self.holder_of(MAC, address)
        if holder is None:
            raise NotFoundError(f"no phone has the MAC address {address}")
        phone = self.load(holder, Phone)
        scope.require_visible(sees_phone(scope, phone), f"phone {address}")
        return phone

    def _extension(self, phone: Phone, account_id: UUID) -> Account:
        """The extension's account, which must be an open account of the phone's customer."""
        if phone.customer_id is None:
            raise PhoneNotAllocatedError(f"phone {phone.mac} is not allocated to a customer")
        try:
            account = self.load(account_id, Account)
        except NotFoundError:
            account = None
        if account is None or account.customer_id != phone.customer_id:
            raise NotFoundError(f"the phone's customer has no account {account_id}")
        account.check_open()
        return account


def _manager(scope: Scope, managed_by: UUID | None, shared: bool) -> UUID | None:
    """Who manages a new phone: a reseller always itself, and only admins share phones."""
    if scope.reseller_id is None:
        return managed_by
    if managed_by not in (None, scope.reseller_id):
        raise ForbiddenError("a reseller adds only phones it manages itself")
    if shared:
        raise ForbiddenError("only an administrator shares phones with every reseller")
    return scope.reseller_id
