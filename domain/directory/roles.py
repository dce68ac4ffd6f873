"""Self-care roles: what each section allows, which roles a customer may give its
individuals, and the role a customer or account acts with itself (seed 002 "Roles", seed
001 "access roles"). Admins define roles; a principal without a role of its own acts with
its realm's default (`REALM_DEFAULT`: everything but call control).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.directory.access import Scope
from domain.directory.aggregates import Account, Customer
from domain.shared import values
from domain.shared.actor import CommandContext
from domain.shared.aggregate import CustomerOwned, SwitchlogAggregate
from domain.shared.application import SwitchlogApplication
from domain.shared.errors import (
    ForbiddenError,
    InvalidValueError,
    NotFoundError,
    PreconditionFailedError,
)
from domain.shared.permissions import Access, Permissions, Section, parse_permissions

Changed = SwitchlogAggregate.Changed
ROLE_NAME = "role-name"


class RoleNotAllowedError(ForbiddenError):
    """The customer may not give this role to its individuals (not on its allowed list)."""

    code = "role_not_allowed"


class Role(SwitchlogAggregate):
    """A self-care role: Modify, Read or Restrict for each section. Only admins see it."""

    context = "directory"

    class Created(SwitchlogAggregate.Created):
        name: str
        permissions: dict[str, str]

    def __init__(self, name: str, permissions: dict[str, str]) -> None:
        self.name = name
        self.permissions = permissions

    class Renamed(Changed):
        fields = frozenset({"name"})

    class PermissionsChanged(Changed):
        fields = frozenset({"permissions"})

    def rename(self, name: str) -> None:
        self.change(self.Renamed, name=name)

    def change_permissions(self, permissions: dict[str, str]) -> None:
        self.change(self.PermissionsChanged, permissions=permissions)

    def grants(self) -> Permissions:
        """Every section's access (a section added after the role was stored: Restrict)."""
        return parse_permissions(self.permissions)


def stored_permissions(raw: Mapping[str, str]) -> dict[str, str]:
    """A role's permissions as events keep them: every section named, validated."""
    return {section.value: access.value for section, access in parse_permissions(raw).items()}


def exceeding(granted: Permissions, limit: Permissions) -> tuple[Section, Access, Access] | None:
    """The first section where `granted` gives more than `limit` (None: it stays within)."""
    for section in Section:
        wanted = granted.get(section, Access.RESTRICT)
        have = limit.get(section, Access.RESTRICT)
        if not have.covers(wanted):
            return section, wanted, have
    return None


class CustomerAccess(CustomerOwned, SwitchlogAggregate):
    """A customer's allowed roles (what its individuals may be given) and its own role."""

    context = "directory"

    @staticmethod
    def create_id(customer_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"switchlog:customer-access:{customer_id}")

    class Created(SwitchlogAggregate.Created):
        customer_id: UUID
        reseller_id: UUID | None
        allowed_role_ids: list[str]
        role_id: UUID | None

    def __init__(
        self,
        customer_id: UUID,
        reseller_id: UUID | None,
        allowed_role_ids: list[str],
        role_id: UUID | None,
    ) -> None:
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.allowed_role_ids = allowed_role_ids
        self.role_id = role_id

    class AllowedRolesChanged(Changed):
        fields = frozenset({"allowed_role_ids"})

    class RoleChanged(Changed):
        """The customer's own role (None: the realm's default)."""

        fields = frozenset({"role_id"})

    def allow(self, role_ids: list[str]) -> None:
        self.change(self.AllowedRolesChanged, allowed_role_ids=role_ids)

    def assign(self, role_id: UUID | None) -> None:
        self.change(self.RoleChanged, role_id=role_id)


class AccountAccess(CustomerOwned, SwitchlogAggregate):
    """The role an account acts with (None: the realm's default)."""

    context = "directory"
    owning_account = "account_id"

    @staticmethod
    def create_id(account_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"switchlog:account-access:{account_id}")

    class Created(SwitchlogAggregate.Created):
        account_id: UUID
        customer_id: UUID
        reseller_id: UUID | None
        role_id: UUID | None

    def __init__(
        self, account_id: UUID, customer_id: UUID, reseller_id: UUID | None, role_id: UUID | None
    ) -> None:
        self.account_id = account_id
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.role_id = role_id

    class RoleChanged(Changed):
        fields = frozenset({"role_id"})

    def assign(self, role_id: UUID | None) -> None:
        self.change(self.RoleChanged, role_id=role_id)


AGGREGATES: tuple[type[SwitchlogAggregate], ...] = (Role, CustomerAccess, AccountAccess)


class RoleCommands(SwitchlogApplication):
    """Roles, allowed roles and principals' roles (mixed into DirectoryService)."""

    def create_role(self, ctx: CommandContext, name: str, permissions: Mapping[str, str]) -> UUID:
        with self.command(ctx):
            Scope.of(ctx.actor).require_admin()
            role = Role(values.human_id(name, "name"), stored_permissions(permissions))
            self.save(role, *self.names.claim(ROLE_NAME, name, role.id))
            return role.id

    def update_role(
        self, ctx: CommandContext, role_id: UUID, expected_version: int | None, **fields: Any
    ) -> int:
        with self.command(ctx):
            Scope.of(ctx.actor).require_admin()
            role = self.role(role_id)
            if expected_version is not None and role.version != expected_version:
                raise PreconditionFailedError(
                    f"Role {role_id} is at version {role.version}, not {expected_version}"
                )
            refused = sorted(set(fields) - {"name", "permissions"})
            if refused:
                raise InvalidValueError(f"cannot change {', '.join(refused)} of a role")
            claims = []
            if "name" in fields:
                name = values.human_id(fields["name"], "name")
                claims = self.names.move(ROLE_NAME, role.name, name, role.id)
                role.rename(name)
            if "permissions" in fields:
                role.change_permissions(stored_permissions(fields["permissions"]))
            self.save(role, *claims)
            return role.version

    def set_allowed_roles(
        self, ctx: CommandContext, customer_id: UUID, role_ids: Iterable[UUID]
    ) -> int:
        """The roles the customer may give its individuals (admins and its reseller)."""
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            customer = self._customer_for(scope, customer_id)
            scope.require_reseller_or_admin()
            customer.check_open()
            wanted = sorted({str(self.role(r, unknown=InvalidValueError).id) for r in role_ids})
            access = self.customer_access(customer)
            if access is None:
                access = CustomerAccess(customer.id, customer.reseller_id, wanted, None)
            else:
                access.allow(wanted)
            self.save(access)
            return access.version

    def set_customer_role(
        self, ctx: CommandContext, customer_id: UUID, role_id: UUID | None
    ) -> int:
        """The role the customer itself acts with (admins only; None: the realm default)."""
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            customer = self._customer_for(scope, customer_id)
            scope.require_admin()
            customer.check_open()
            if role_id is not None:
                self.role(role_id, unknown=InvalidValueError)
            access = self.customer_access(customer)
            if access is None:
                access = CustomerAccess(customer.id, customer.reseller_id, [], role_id)
            else:
                access.assign(role_id)
            self.save(access)
            return access.version

    def set_account_role(self, ctx: CommandContext, account_id: UUID, role_id: UUID | None) -> int:
        """The role the account acts with (admins only; None: the realm default)."""
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            account = self.load(account_id, Account)
            customer = self.load(account.customer_id, Customer)
            visible = scope.sees_account(account.id, customer.id, customer.reseller_id)
            scope.require_visible(visible, f"account {account_id}")
            scope.require_admin()
            account.check_open()
            if role_id is not None:
                self.role(role_id, unknown=InvalidValueError)
            try:
                access = self.load(AccountAccess.create_id(account.id), AccountAccess)
                access.belongs_to(customer.reseller_id)
                access.assign(role_id)
            except NotFoundError:
                access = AccountAccess(account.id, customer.id, customer.reseller_id, role_id)
            self.save(access)
            return access.version

    # -- helpers -------------------------------------------------------------------
    def role(self, role_id: UUID, unknown: type[Exception] = NotFoundError) -> Role:
        try:
            return self.load(role_id, Role)
        except NotFoundError:
            raise unknown(f"role {role_id} not found") from None

    def customer_access(self, customer: Customer) -> CustomerAccess | None:
        try:
            access = self.load(CustomerAccess.create_id(customer.id), CustomerAccess)
        except NotFoundError:
            return None
        access.belongs_to(customer.reseller_id)
        return access

    def _customer_for(self, scope: Scope, customer_id: UUID) -> Customer:
        customer = self.load(customer_id, Customer)
        scope.require_visible(
            scope.sees_customer(customer.id, customer.reseller_id), f"customer {customer_id}"
        )
        return customer
