"""Directory use cases: one method a command, get -> decide -> save."""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from domain.directory.access import Scope
from domain.directory.aggregates import Account, Admin, Customer, Principal, Reseller
from domain.directory.individuals import Individual, IndividualCommands
from domain.directory.roles import AccountAccess, CustomerAccess
from domain.shared import values
from domain.shared.actor import Actor, CommandContext
from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.application import SwitchlogApplication
from domain.shared.errors import (
    AuthenticationError,
    InvalidValueError,
    NotFoundError,
    PreconditionFailedError,
)
from domain.shared.index import NameIndex
from domain.shared.owners import Owner
from domain.shared.passwords import hash_generated_secret, hash_password, verify_password
from domain.shared.permissions import Access, Section

P = TypeVar("P", bound=Principal)

LOGIN = "login"
#: Logins only extensions' and auto attendants' generated accounts have.
GENERATED_LOGIN = re.compile(r"^ph[0-9]+(x|aa)[0-9]+$", re.IGNORECASE)
RESELLER_NAME = "reseller-name"
CUSTOMER_NAME = "customer-name"


class DirectoryService(IndividualCommands, SwitchlogApplication):
    """Admins, resellers, customers and accounts, and how they authenticate; roles and
    individuals are mixed in (roles.py, individuals.py)."""

    # -- admins --------------------------------------------------------------------
    def create_admin(
        self, ctx: CommandContext, login: str, password: str, role: str = "admin"
    ) -> UUID:
        with self.command(ctx):
            Scope.of(ctx.actor).require_admin()
            admin = Admin(
                login=_login(login) or "",
                password_hash=hash_password(_password(password)),
                admin_role=role,
            )
            self.save(admin, *self.names.claim(LOGIN, login, admin.id))
            return admin.id

    def reset_admin_password(self, ctx: CommandContext, login: str, password: str) -> UUID:
        """Give the admin holding `login` a new password (e.g. the old one was lost)."""
        with self.command(ctx):
            Scope.of(ctx.actor).require_admin()
            admin = self._admin(login)
            admin.reset_password(hash_password(_password(password)))
            self.save(admin)
            return admin.id

    # -- resellers -----------------------------------------------------------------
    def create_reseller(
        self, ctx: CommandContext, name: str, login: str | None = None, password: str | None = None
    ) -> UUID:
        with self.command(ctx):
            Scope.of(ctx.actor).require_admin()
            reseller = Reseller(
                name=values.human_id(name, "name"),
                login=_login(login),
                password_hash=_hash(password),
            )
            claims = self.names.claim(RESELLER_NAME, name, reseller.id)
            claims += self.names.move(LOGIN, None, login, reseller.id)
            self.save(reseller, *claims)
            return reseller.id

    def update_reseller(
        self, ctx: CommandContext, reseller_id: UUID, expected_version: int | None, **fields: Any
    ) -> int:
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            reseller = self._visible_reseller(scope, reseller_id, expected_version)
            _only(fields, {"name", "login", "password"}, "a reseller")
            claims = []
            if "name" in fields:
                name = values.human_id(fields["name"], "name")
                claims += self.names.move(RESELLER_NAME, reseller.name, name, reseller.id)
                reseller.rename(name)
            claims += self._credentials(reseller, fields)
            self.save(reseller, *claims)
            return reseller.version

    def close_reseller(
        self, ctx: CommandContext, reseller_id: UUID, expected_version: int | None
    ) -> int:
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            reseller = self._visible_reseller(scope, reseller_id, expected_version)
            reseller.close()
            self.save(reseller)
            return reseller.version

    # -- customers -----------------------------------------------------------------
    def create_customer(
        self,
        ctx: CommandContext,
        name: str,
        currency: str,
        time_zone: str,
        reseller_id: UUID | None = None,
        login: str | None = None,
        password: str | None = None,
    ) -> UUID:
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            scope.require_reseller_or_admin()
            if scope.reseller_id is not None:
                reseller_id = reseller_id or scope.reseller_id
                scope.require_visible(scope.sees_reseller(reseller_id), f"reseller {reseller_id}")
            if reseller_id is not None:
                self.load(reseller_id, Reseller).check_open()
            customer = Customer(
                name=values.human_id(name, "name"),
                currency=values.currency(currency),
                time_zone=values.time_zone(time_zone),
                reseller_id=reseller_id,
                login=_login(login),
                password_hash=_hash(password),
            )
            claims = self.names.claim(CUSTOMER_NAME, name, customer.id)
            claims += self.names.move(LOGIN, None, login, customer.id)
            self.save(customer, *claims)
            return customer.id

    def update_customer(
        self, ctx: CommandContext, customer_id: UUID, expected_version: int | None, **fields: Any
    ) -> int:
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            customer = self._visible_customer(scope, customer_id, expected_version)
            scope.require_reseller_or_admin()
            _only(
                fields,
                {"name", "currency", "time_zone", "reseller_id", "login", "password"},
                "a customer",
            )
            claims = []
            if "name" in fields:
                name = values.human_id(fields["name"], "name")
                claims += self.names.move(CUSTOMER_NAME, customer.name, name, customer.id)
                customer.rename(name)
            if "reseller_id" in fields:
                scope.require_admin()
                if fields["reseller_id"] is not None:
                    self.load(fields["reseller_id"], Reseller).check_open()
                customer.move_to(fields["reseller_id"])
            details = {}
            if "currency" in fields:
                details["currency"] = values.currency(fields["currency"])
            if "time_zone" in fields:
                details["time_zone"] = values.time_zone(fields["time_zone"])
            if details:
                customer.change_details(**details)
            claims += self._credentials(customer, fields)
            self.save(customer, *claims)
            return customer.version

    def close_customer(
        self, ctx: CommandContext, customer_id: UUID, expected_version: int | None
    ) -> int:
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            customer = self._visible_customer(scope, customer_id, expected_version)
            scope.require_reseller_or_admin()
            customer.close()
            self.save(customer)
            return customer.version

    # -- accounts ------------------------------------------------------------------
    def create_account(
        self, ctx: CommandContext, customer_id: UUID, login: str, password: str | None = None
    ) -> UUID:
        return self._open_account(ctx, customer_id, _login(login) or "", _hash(password))

    def open_generated_account(
        self, ctx: CommandContext, customer_id: UUID, login: str, password: str
    ) -> UUID:
        """The account of an extension or auto attendant (`ph46170x466`, `ph46170aa1`):
        provisioning decided it and runs this in the same transaction."""
        if not GENERATED_LOGIN.match(login):
            raise InvalidValueError(f"{login!r} is not a generated account's login")
        return self._open_account(ctx, customer_id, login, hash_generated_secret(password))

    def rename_generated_account(self, ctx: CommandContext, account_id: UUID, login: str) -> None:
        """A renumbered extension's account takes its new login."""
        with self.command(ctx):
            account = self._visible_account(Scope.of(ctx.actor), account_id, None)
            if not GENERATED_LOGIN.match(login):
                raise InvalidValueError(f"{login!r} is not a generated account's login")
            claims = self.names.move(LOGIN, account.login, login, account.id)
            account.change_login(login)
            self.save(account, *claims)

    def close_generated_account(self, ctx: CommandContext, account_id: UUID) -> None:
        """A deleted extension's account closes, and its login is free for a new one."""
        with self.command(ctx):
            account = self._visible_account(Scope.of(ctx.actor), account_id, None)
            account.close()
            self.save(account, *self.names.release(LOGIN, account.login or ""))

    def block_account(
        self, ctx: CommandContext, account_id: UUID, expected_version: int | None
    ) -> int:
        """Block an account: it may not log in or place calls until unblocked."""
        with self.command(ctx):
            account = self._visible_account(Scope.of(ctx.actor), account_id, expected_version)
            ctx.require(Section.EXTENSIONS, Access.MODIFY)
            account.block(ctx.actor.realm)
            self.save(account)
            return account.version

    def unblock_account(
        self, ctx: CommandContext, account_id: UUID, expected_version: int | None
    ) -> int:
        """Unblock an account, unless a realm above the caller's blocked it."""
        with self.command(ctx):
            account = self._visible_account(Scope.of(ctx.actor), account_id, expected_version)
            ctx.require(Section.EXTENSIONS, Access.MODIFY)
            account.unblock(ctx.actor.realm)
            self.save(account)
            return account.version

    def _open_account(
        self, ctx: CommandContext, customer_id: UUID, login: str, password_hash: str | None
    ) -> UUID:
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            customer = self._visible_customer(scope, customer_id)
            scope.require_visible(scope.account_id is None, f"customer {customer_id}")
            ctx.require(Section.EXTENSIONS, Access.MODIFY)
            customer.check_open()
            account = Account(
                customer_id=customer.id,
                reseller_id=customer.reseller_id,
                login=values.human_id(login, "login"),
                password_hash=password_hash,
            )
            self.save(account, *self.names.claim(LOGIN, login, account.id))
            return account.id

    def update_account(
        self, ctx: CommandContext, account_id: UUID, expected_version: int | None, **fields: Any
    ) -> int:
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            account = self._visible_account(scope, account_id, expected_version)
            ctx.require(Section.EXTENSIONS, Access.MODIFY)
            _only(fields, {"login", "password"}, "an account")
            if "login" in fields:
                _not_generated(account, "renumber its extension")
            self.save(account, *self._credentials(account, fields))
            return account.version

    def close_account(
        self, ctx: CommandContext, account_id: UUID, expected_version: int | None
    ) -> int:
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            account = self._visible_account(scope, account_id, expected_version)
            ctx.require(Section.EXTENSIONS, Access.MODIFY)
            _not_generated(account, "delete its extension")
            account.close()
            self.save(account)
            return account.version

    # -- authentication ------------------------------------------------------------
    def authenticate(self, login: str, password: str) -> Actor:
        """The actor a login and password identify; one vague error for every failure."""
        holder = self.holder_of(LOGIN, login)
        principal = self._active(holder) if holder else None
        if principal is None or not verify_password(password, principal.password_hash):
            raise AuthenticationError("unknown login or wrong password")
        return self._admitted(principal)

    def active_actor(
        self, principal_id: UUID, realm: str, issued_at: datetime | None = None
    ) -> Actor:
        """The actor behind a token, while its principal is open and in that realm, and its
        password has not changed since the token was issued."""
        principal = self._active(principal_id)
        if principal is None or principal.realm.value != realm:
            raise AuthenticationError("the token's principal is closed or unknown")
        changed = principal.credentials_changed_at
        if issued_at is not None and changed is not None and issued_at < changed:
            raise AuthenticationError("the password changed after this token was issued")
        return self._admitted(principal)

    def owners_of(self, subject_id: UUID) -> Sequence[Owner]:
        """Whom a subject's events belong to now (none for an unknown subject or an admin)."""
        try:
            subject = self.load(subject_id, SwitchlogAggregate)
        except NotFoundError:
            return ()
        if isinstance(subject, Account | Individual | CustomerAccess | AccountAccess):
            subject.belongs_to(self.load(subject.customer_id, Customer).reseller_id)
        return subject.owners()

    # -- helpers -------------------------------------------------------------------
    def _admitted(self, principal: Principal) -> Actor:
        """The actor a principal acts as, once it may act now (an individual: inside its
        dates, while its customer is open)."""
        return self.admit(principal) if isinstance(principal, Individual) else _actor(principal)

    def _admin(self, login: str) -> Admin:
        """The admin holding `login`; a reseller's or customer's login names no admin."""
        holder = self.holder_of(LOGIN, login)
        if holder is not None:
            with suppress(NotFoundError):
                return self.load(holder, Admin)
        raise NotFoundError(f"no admin has the login {login!r}")

    def _active(self, principal_id: UUID) -> Principal | None:
        try:
            principal = self.load_current(principal_id, Principal)
        except NotFoundError:
            return None
        if getattr(principal, "blocked", False):  # a blocked account may not log in
            return None
        return principal if principal.status == "open" else None

    def _visible_reseller(
        self, scope: Scope, reseller_id: UUID, expected_version: int | None
    ) -> Reseller:
        reseller = self.load(reseller_id, Reseller)
        scope.require_visible(scope.sees_reseller(reseller.id), f"reseller {reseller_id}")
        scope.require_admin()
        return _expect(reseller, expected_version)

    def _visible_customer(
        self, scope: Scope, customer_id: UUID, expected_version: int | None = None
    ) -> Customer:
        customer = self.load(customer_id, Customer)
        visible = scope.sees_customer(customer.id, customer.reseller_id)
        scope.require_visible(visible, f"customer {customer_id}")
        return _expect(customer, expected_version)

    def _visible_account(
        self, scope: Scope, account_id: UUID, expected_version: int | None
    ) -> Account:
        account = self.load(account_id, Account)
        customer = self.load(account.customer_id, Customer)
        visible = scope.sees_account(account.id, customer.id, customer.reseller_id)
        scope.require_visible(visible, f"account {account_id}")
        account.belongs_to(customer.reseller_id)
        if scope.account_id is not None:
            scope.require_admin()
        return _expect(account, expected_version)

    def _credentials(self, principal: Principal, fields: dict[str, Any]) -> list[NameIndex]:
        """Login and password changes, as their own events; the login's reservation moves."""
        claims = []
        if "login" in fields:
            login = _login(fields["login"])
            claims += self.names.move(LOGIN, principal.login, login, principal.id)
            principal.change_login(login)
        if "password" in fields:
            password = fields["password"]
            if password is None:
                raise InvalidValueError("a password cannot be removed, only changed")
            principal.change_password(hash_password(_password(password)))
        return claims


def _only(fields: dict[str, Any], allowed: set[str], what: str) -> None:
    """Refuse fields a use case does not change, whoever calls (API, CLI, SIP adapter)."""
    refused = sorted(set(fields) - allowed)
    if refused:
        raise InvalidValueError(f"cannot change {', '.join(refused)} of {what} here")


def _expect(principal: P, expected_version: int | None) -> P:
    if expected_version is not None and principal.version != expected_version:
        raise PreconditionFailedError(
            f"{type(principal).__name__} {principal.id} is at version {principal.version}, "
            f"not {expected_version}"
        )
    return principal


def _actor(principal: Principal) -> Actor:
    return Actor(
        id=str(principal.id), realm=principal.realm, role=principal.role(), login=principal.login
    )


def _password(password: str) -> str:
    if len(password) < 8:
        raise InvalidValueError("a password needs at least 8 characters")
    return password


def _hash(password: str | None) -> str | None:
    return hash_password(_password(password)) if password is not None else None


def _login(login: str | None) -> str | None:
    if login is not None and GENERATED_LOGIN.match(login):
        raise InvalidValueError(
            f"{login!r}: logins like ph46170x466 and ph46170aa1 belong to extensions and"
            " auto attendants; they are generated, not chosen"
        )
    return values.human_id(login, "login") if login is not None else None


def _not_generated(account: Account, instead: str) -> None:
    if GENERATED_LOGIN.match(account.login or ""):
        raise InvalidValueError(f"{account.login} is an extension's account: {instead} instead")
