"""Directory use cases: one method a command, get -> decide -> save."""

from __future__ import annotations

from contextlib import suppress
from typing import Any, TypeVar
from uuid import UUID

from domain.directory.access import Ownership, Scope
from domain.directory.aggregates import Account, Admin, Customer, Principal, Reseller
from domain.shared import values
from domain.shared.actor import Actor, CommandContext
from domain.shared.application import SwitchlogApplication
from domain.shared.errors import (
    AuthenticationError,
    DuplicateError,
    InvalidValueError,
    NotFoundError,
    PreconditionFailedError,
)
from domain.shared.index import NameIndex
from domain.shared.passwords import hash_password, verify_password

P = TypeVar("P", bound=Principal)

LOGIN = "login"
RESELLER_NAME = "reseller-name"
CUSTOMER_NAME = "customer-name"


class DirectoryService(SwitchlogApplication):
    """Admins, resellers, customers and accounts, and how they authenticate."""

    # -- admins --------------------------------------------------------------------
    def create_admin(
        self, ctx: CommandContext, login: str, password: str, role: str = "admin"
    ) -> UUID:
        with self.command(ctx):
            Scope.of(ctx.actor).require_admin()
            admin = Admin(
                login=values.human_id(login, "login"),
                password_hash=hash_password(_password(password)),
                admin_role=role,
            )
            self.save(admin, *self._claim(LOGIN, login, admin.id))
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
            claims = self._claim(RESELLER_NAME, name, reseller.id)
            if login:
                claims += self._claim(LOGIN, login, reseller.id)
            self.save(reseller, *claims)
            return reseller.id

    def update_reseller(
        self, ctx: CommandContext, reseller_id: UUID, expected_version: int | None, **fields: Any
    ) -> int:
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            reseller = self._visible_reseller(scope, reseller_id, expected_version)
            claims = self._rename(RESELLER_NAME, reseller, "name", fields)
            claims += self._relogin(reseller, fields)
            reseller.update(**fields)
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
            claims = self._claim(CUSTOMER_NAME, name, customer.id)
            if login:
                claims += self._claim(LOGIN, login, customer.id)
            self.save(customer, *claims)
            return customer.id

    def update_customer(
        self, ctx: CommandContext, customer_id: UUID, expected_version: int | None, **fields: Any
    ) -> int:
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            customer = self._visible_customer(scope, customer_id, expected_version)
            scope.require_reseller_or_admin()
            if "currency" in fields:
                fields["currency"] = values.currency(fields["currency"])
            if "time_zone" in fields:
                fields["time_zone"] = values.time_zone(fields["time_zone"])
            if "reseller_id" in fields:
                scope.require_admin()
                if fields["reseller_id"] is not None:
                    self.load(fields["reseller_id"], Reseller).check_open()
            claims = self._rename(CUSTOMER_NAME, customer, "name", fields)
            claims += self._relogin(customer, fields)
            customer.update(**fields)
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
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            customer = self._visible_customer(scope, customer_id)
            scope.require_visible(scope.account_id is None, f"customer {customer_id}")
            customer.check_open()
            account = Account(
                customer_id=customer.id,
                login=values.human_id(login, "login"),
                password_hash=_hash(password),
            )
            self.save(account, *self._claim(LOGIN, login, account.id))
            return account.id

    def update_account(
        self, ctx: CommandContext, account_id: UUID, expected_version: int | None, **fields: Any
    ) -> int:
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            account = self._visible_account(scope, account_id, expected_version)
            claims = self._relogin(account, fields)
            account.update(**fields)
            self.save(account, *claims)
            return account.version

    def close_account(
        self, ctx: CommandContext, account_id: UUID, expected_version: int | None
    ) -> int:
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            account = self._visible_account(scope, account_id, expected_version)
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
        return _actor(principal)

    def active_actor(self, principal_id: UUID, realm: str) -> Actor:
        """The actor behind a token, while its principal is open and in that realm."""
        principal = self._active(principal_id)
        if principal is None or principal.realm.value != realm:
            raise AuthenticationError("the token's principal is closed or unknown")
        return _actor(principal)

    def owner_of(self, subject_id: UUID) -> Ownership:
        """The customer and reseller a subject's events belong to (empty if neither)."""
        try:
            subject = self.load(subject_id, Principal)
        except NotFoundError:
            return Ownership()
        if isinstance(subject, Reseller):
            return Ownership(None, subject.id)
        if isinstance(subject, Customer):
            return Ownership(subject.id, subject.reseller_id)
        if isinstance(subject, Account):
            customer = self.load(subject.customer_id, Customer)
            return Ownership(customer.id, customer.reseller_id)
        return Ownership()

    # -- helpers -------------------------------------------------------------------
    def _admin(self, login: str) -> Admin:
        """The admin holding `login`; a reseller's or customer's login names no admin."""
        holder = self.holder_of(LOGIN, login)
        if holder is not None:
            with suppress(NotFoundError):
                return self.load(holder, Admin)
        raise NotFoundError(f"no admin has the login {login!r}")

    def _active(self, principal_id: UUID) -> Principal | None:
        try:
            principal = self.load(principal_id, Principal)
        except NotFoundError:
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
        if scope.account_id is not None:
            scope.require_admin()
        return _expect(account, expected_version)

    def _claim(self, kind: str, value: str, subject: UUID) -> list[NameIndex]:
        index = self._index(kind, value)
        if index is None:
            return [NameIndex(kind=kind, value=value, subject_id=subject)]
        if index.subject_id not in (None, subject):
            raise DuplicateError(f"{kind} {value!r} is already taken")
        index.assign(subject)
        return [index]

    def _release(self, kind: str, value: str) -> list[NameIndex]:
        index = self._index(kind, value)
        if index is None:
            return []
        index.assign(None)
        return [index]

    def _rename(
        self, kind: str, subject: Principal, field: str, fields: dict[str, Any]
    ) -> list[NameIndex]:
        new = fields.get(field)
        old = getattr(subject, field)
        if new is None or new == old:
            return []
        values.human_id(new, field)
        claims = self._claim(kind, new, subject.id)
        if old and old.casefold() != new.casefold():
            claims += self._release(kind, old)
        return claims

    def _relogin(self, subject: Principal, fields: dict[str, Any]) -> list[NameIndex]:
        if "password" in fields:
            fields["password_hash"] = _hash(fields.pop("password"))
        return self._rename(LOGIN, subject, "login", fields)


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
    return values.human_id(login, "login") if login is not None else None
