"""Customer individuals: employees' own self-care logins, each with a role (seed 002).

An individual logs in like any principal and then acts for its customer (the customer's
scope, `Actor.individual_id` set), so the audit trail names the person who did each
change. It may act only between its activation and expiration dates, inclusive, in its own
time zone; that is checked on every request against the service's clock. Its credentials
email carries a one-time set-password link, never a password.
"""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.directory.access import Scope
from domain.directory.aggregates import Account, Customer, Principal
from domain.directory.roles import (
    AccountAccess,
    RoleCommands,
    RoleNotAllowedError,
    exceeding,
)
from domain.shared import values
from domain.shared.actor import Actor, CommandContext, Realm
from domain.shared.aggregate import CustomerOwned, SwitchlogAggregate
from domain.shared.errors import (
    AuthenticationError,
    DomainError,
    ForbiddenError,
    InvalidValueError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
)
from domain.shared.passwords import hash_password
from domain.shared.permissions import Access, Permissions, Section
from domain.shared.values import Secret

Changed = SwitchlogAggregate.Changed
LOGIN = "login"  # the login kind every principal shares (DirectoryService's LOGIN)
DEFAULT_LINK_TTL = timedelta(days=7)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class IndividualInactiveError(ForbiddenError):
    """The individual's access has not started yet, or has ended (its dates)."""

    code = "individual_inactive"


class InvalidLinkError(DomainError):
    """A set-password link that is unknown, used already, or expired."""

    code = "invalid_link"


class Individual(CustomerOwned, Principal):
    """An employee of a customer with a login of its own and a self-care role."""

    realm: ClassVar[Realm] = Realm.CUSTOMER

    class Created(SwitchlogAggregate.Created):
        customer_id: UUID
        reseller_id: UUID | None
        login: str
        password_hash: str
        email: str
        role_id: UUID
        time_zone: str
        activation_date: str | None
        expiration_date: str | None
        # The one-time set-password link's secret, encrypted by the store like every Secret.
        secret: Secret | None
        link_expires_at: datetime | None

    def __init__(
        self,
        customer_id: UUID,
        reseller_id: UUID | None,
        login: str,
        password_hash: str,
        email: str,
        role_id: UUID,
        time_zone: str,
        activation_date: str | None,
        expiration_date: str | None,
        secret: Secret | None,
        link_expires_at: datetime | None,
    ) -> None:
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.login = login
        self.password_hash = password_hash
        self.email = email
        self.role_id = role_id
        self.time_zone = time_zone
        self.activation_date = activation_date
        self.expiration_date = expiration_date
        self.secret = secret
        self.link_expires_at = link_expires_at
        self.status = "open"

    def role(self) -> str:
        return "individual"

    class Closed(Principal.Closed):
        pass

    class LoginChanged(Principal.LoginChanged):
        pass

    class PasswordChanged(Principal.PasswordChanged):
        pass

    class RoleChanged(Changed):
        fields = frozenset({"role_id"})

    class DetailsChanged(Changed):
        fields = frozenset({"email", "time_zone"})

    class AccessDatesChanged(Changed):
        fields = frozenset({"activation_date", "expiration_date"})

    class PasswordSet(SwitchlogAggregate.Event):
        """The individual chose a password through its one-time link, which is now spent."""

        password_hash: str

        def apply(self, aggregate: Any) -> None:
            aggregate.password_hash = self.password_hash
            aggregate.credentials_changed_at = self.timestamp
            aggregate.secret = None
            aggregate.link_expires_at = None

    def change_role(self, role_id: UUID) -> None:
        self.check_open()
        self.change(self.RoleChanged, role_id=role_id)

    def change_details(self, **details: Any) -> None:
        self.check_open()
        self.change(self.DetailsChanged, **details)

    def change_dates(self, activation_date: str | None, expiration_date: str | None) -> None:
        self.check_open()
        self.change(
            self.AccessDatesChanged,
            activation_date=activation_date,
            expiration_date=expiration_date,
        )

    def set_password(self, secret: str, password_hash: str, now: datetime) -> None:
        """Spend the link: only its secret, once, before it expires (else one vague error)."""
        valid = (
            self.status == "open"
            and self.secret is not None
            and hmac.compare_digest(self.secret.value.encode(), secret.encode())
            and self.link_expires_at is not None
            and now < self.link_expires_at
        )
        if not valid:
            raise InvalidLinkError("this set-password link is unknown, used or expired")
        self.trigger_event(self.PasswordSet, password_hash=password_hash)

    # -- when it may act -----------------------------------------------------------
    def starts(self) -> datetime | None:
        """The first instant of the activation date in the individual's zone."""
        return _midnight(self.activation_date, self.time_zone, 0)

    def ends(self) -> datetime | None:
        """The first instant after the expiration date (inclusive) in its zone."""
        return _midnight(self.expiration_date, self.time_zone, 1)

    def check_active(self, now: datetime) -> None:
        starts, ends = self.starts(), self.ends()
        if starts is not None and now < starts:
            raise IndividualInactiveError(
                f"access for {self.login} starts on {self.activation_date} ({self.time_zone}),"
                f" at {starts.isoformat()}"
            )
        if ends is not None and now >= ends:
            raise IndividualInactiveError(
                f"access for {self.login} ended after {self.expiration_date}"
                f" ({self.time_zone}), at {ends.isoformat()}"
            )

    def actor(self) -> Actor:
        """An individual acts for its customer; the event names the individual too."""
        return Actor(
            id=str(self.customer_id),
            realm=Realm.CUSTOMER,
            role=self.role(),
            login=self.login,
            individual_id=str(self.id),
        )


AGGREGATES: tuple[type[SwitchlogAggregate], ...] = (Individual,)


def access_date(value: str | None, what: str) -> str | None:
    """A date as the API takes it: YYYY-MM-DD (None: no limit)."""
    if value is None:
        return None
    if not _DATE.match(value):
        raise InvalidValueError(f"{what} must be a date as YYYY-MM-DD")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise InvalidValueError(f"{what} {value!r} is not a date") from None
    return value


def email_address(value: str) -> str:
    if len(value) > 254 or not _EMAIL.match(value):
        raise InvalidValueError(f"{value!r} is not an email address")
    return value


def _midnight(day: str | None, zone: str, days_after: int) -> datetime | None:
    if day is None:
        return None
    moment = date.fromisoformat(day) + timedelta(days=days_after)
    return datetime.combine(moment, time(0), ZoneInfo(zone))


def _dates(activation: str | None, expiration: str | None) -> tuple[str | None, str | None]:
    activation = access_date(activation, "activation_date")
    expiration = access_date(expiration, "expiration_date")
    if activation and expiration and expiration < activation:
        raise InvalidValueError("expiration_date is before activation_date")
    return activation, expiration


def _hashed(password: str) -> str:
    if len(password) < 8:
        raise InvalidValueError("a password needs at least 8 characters")
    return hash_password(password)


class IndividualCommands(RoleCommands):
    """Individuals' use cases, their admission on every request, and what a token names
    (mixed into DirectoryService)."""

    def create_individual(
        self,
        ctx: CommandContext,
        customer_id: UUID,
        login: str,
        password: str,
        email: str,
        role_id: UUID,
        time_zone: str,
        activation_date: str | None = None,
        expiration_date: str | None = None,
        link_ttl: timedelta = DEFAULT_LINK_TTL,
    ) -> UUID:
        """An admin, the customer's reseller, or a customer role with Modify on
        individuals gives a person a login; the role must be allowed to the customer and
        (for a customer role) within the creator's own."""
        with self.command(ctx):
            scope = Scope.of(ctx.actor)
            customer = self._customer_for(scope, customer_id)
            ctx.require(Section.INDIVIDUALS, Access.MODIFY)
            customer.check_open()
            self._grantable(ctx, customer, role_id)
            activation, expiration = _dates(activation_date, expiration_date)
            zone = values.time_zone(time_zone)
            starts = _midnight(activation, zone, 0)
            now = self.clock.now()
            individual = Individual(
                customer_id=customer.id,
                reseller_id=customer.reseller_id,
                login=values.human_id(login, "login"),
                password_hash=_hashed(password),
                email=email_address(email),
                role_id=role_id,
                time_zone=zone,
                activation_date=activation,
                expiration_date=expiration,
                secret=Secret(secrets.token_urlsafe(32)),
                link_expires_at=max(now, starts or now) + link_ttl,
            )
            self.save(individual, *self.names.claim(LOGIN, login, individual.id))
            return individual.id

    def update_individual(
        self, ctx: CommandContext, individual_id: UUID, expected_version: int | None, **fields: Any
    ) -> int:
        with self.command(ctx):
            individual = self._manageable(
                ctx, individual_id, expected_version, own_password=set(fields) == {"password"}
            )
            refused = sorted(
                set(fields)
                - {
                    "login",
                    "password",
                    "email",
                    "role_id",
                    "time_zone",
                    "activation_date",
                    "expiration_date",
                }
            )
            if refused:
                raise InvalidValueError(f"cannot change {', '.join(refused)} of an individual")
            claims = []
            if "role_id" in fields:
                customer = self.load(individual.customer_id, Customer)
                self._grantable(ctx, customer, fields["role_id"])
                individual.change_role(fields["role_id"])
            details = {}
            if "email" in fields:
                details["email"] = email_address(fields["email"])
            if "time_zone" in fields:
                details["time_zone"] = values.time_zone(fields["time_zone"])
            if details:
                individual.change_details(**details)
            if {"activation_date", "expiration_date"} & set(fields):
                individual.change_dates(
                    *_dates(
                        fields.get("activation_date", individual.activation_date),
                        fields.get("expiration_date", individual.expiration_date),
                    )
                )
            if "login" in fields:
                login = values.human_id(fields["login"], "login")
                claims = self.names.move(LOGIN, individual.login, login, individual.id)
                individual.change_login(login)
            if "password" in fields:
                individual.change_password(_hashed(fields["password"]))
            self.save(individual, *claims)
            return individual.version

    def close_individual(
        self, ctx: CommandContext, individual_id: UUID, expected_version: int | None
    ) -> int:
        with self.command(ctx):
            individual = self._manageable(ctx, individual_id, expected_version)
            individual.close()
            self.save(individual)
            return individual.version

    def set_password_with_link(
        self, token: str, password: str, correlation_id: str | None = None
    ) -> UUID:
        """The individual chooses its password with the link from its credentials email;
        the link works once. The event's actor is the individual itself."""
        raw_id, _, secret = token.partition(".")
        try:
            individual = self.load(UUID(raw_id), Individual)
        except (ValueError, NotFoundError):
            raise InvalidLinkError("this set-password link is unknown, used or expired") from None
        ctx = CommandContext(individual.actor())
        if correlation_id:
            ctx = CommandContext(individual.actor(), correlation_id)
        with self.command(ctx):
            individual.belongs_to(self.load(individual.customer_id, Customer).reseller_id)
            individual.set_password(secret, _hashed(password), self.clock.now())
            self.save(individual)
            return individual.id

    # -- authentication ------------------------------------------------------------
    def admit(self, individual: Individual) -> Actor:
        """An individual acts only while its customer is open and inside its dates, checked
        against the clock on every request (its token stops working at expiry)."""
        customer = self.load_current(individual.customer_id, Customer)
        if customer.status != "open":
            raise AuthenticationError("the token's principal is closed or unknown")
        individual.check_active(self.clock.now())
        return individual.actor()

    def token_claims(self, actor: Actor) -> dict[str, str | None]:
        """What a token says about its principal besides the realm: the one token every
        endpoint takes (`sub` is the principal: the individual for an individual)."""
        customer_id = reseller_id = individual_id = role_id = None
        if actor.individual_id is not None:
            individual = self.load_current(UUID(actor.individual_id), Individual)
            individual_id, role_id = str(individual.id), str(individual.role_id)
            customer_id = str(individual.customer_id)
        elif actor.realm is Realm.CUSTOMER:
            customer_id = actor.id
            access = self.customer_access(self.load_current(UUID(actor.id), Customer))
            role_id = str(access.role_id) if access and access.role_id else None
        elif actor.realm is Realm.ACCOUNT:
            account = self.load_current(UUID(actor.id), Account)
            customer_id = str(account.customer_id)
            try:
                own = self.load(AccountAccess.create_id(account.id), AccountAccess)
                role_id = str(own.role_id) if own.role_id else None
            except NotFoundError:
                pass
        elif actor.realm is Realm.RESELLER:
            reseller_id = actor.id
        if customer_id is not None:
            owner = self.load_current(UUID(customer_id), Customer).reseller_id
            reseller_id = str(owner) if owner else None
        return {
            "sub": individual_id or actor.id,
            "customer_id": customer_id,
            "reseller_id": reseller_id,
            "individual_id": individual_id,
            "role_id": role_id,
        }

    # -- helpers -------------------------------------------------------------------
    def _grantable(self, ctx: CommandContext, customer: Customer, role_id: UUID) -> None:
        """Refuse a role the customer is not allowed, or (for a customer role) one that
        gives more than the actor's own role."""
        role = self.role(role_id, unknown=InvalidValueError)
        access = self.customer_access(customer)
        if access is None or str(role.id) not in access.allowed_role_ids:
            raise RoleNotAllowedError(
                f"role {role.name!r} is not among the roles customer {customer.name!r} may use"
            )
        self._within_own(ctx, role.grants(), f"role {role.name!r}")

    @staticmethod
    def _within_own(ctx: CommandContext, granted: Permissions, what: str) -> None:
        if ctx.permissions is None:
            return
        beyond = exceeding(granted, ctx.permissions)
        if beyond is not None:
            section, wanted, have = beyond
            raise PermissionDeniedError(
                f"{what} gives {wanted.value} on the {section.value} section, more than your"
                f" role's {have.value}"
            )

    def _manageable(
        self,
        ctx: CommandContext,
        individual_id: UUID,
        expected_version: int | None,
        own_password: bool = False,
    ) -> Individual:
        """An individual the actor may change: visible, Modify on individuals (except an
        individual changing only its own password), and no stronger than the actor."""
        scope = Scope.of(ctx.actor)
        individual = self.load(individual_id, Individual)
        customer = self.load(individual.customer_id, Customer)
        scope.require_visible(
            scope.sees_customer(customer.id, customer.reseller_id), f"individual {individual_id}"
        )
        individual.belongs_to(customer.reseller_id)
        if not (own_password and ctx.actor.individual_id == str(individual.id)):
            ctx.require(Section.INDIVIDUALS, Access.MODIFY)
            self._within_own(
                ctx, self.role(individual.role_id).grants(), f"individual {individual.login}'s role"
            )
        if expected_version is not None and individual.version != expected_version:
            raise PreconditionFailedError(
                f"Individual {individual_id} is at version {individual.version},"
                f" not {expected_version}"
            )
        return individual
