"""The directory: admins, resellers, customers and accounts.

Every change is an intent-named event (`Customer.Renamed`, `Account.LoginChanged`,
`Customer.Moved`); the generic `DetailsChanged` is kept for plain descriptive fields on an
allow-list. `Updated` events were written before intent-named events existed: they replay
as they always did and are never triggered again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from domain.shared.actor import Realm
from domain.shared.aggregate import CustomerOwned, SwitchlogAggregate
from domain.shared.errors import ForbiddenError
from domain.shared.owners import Owner

Changed = SwitchlogAggregate.Changed


class Principal(SwitchlogAggregate):
    """A subject that can hold a login and authenticate in its realm."""

    context = "directory"
    realm: ClassVar[Realm]
    login: str | None
    password_hash: str | None
    status: str
    # When the password last changed: tokens issued before it stop working.
    credentials_changed_at: datetime | None = None

    def role(self) -> str:
        return self.realm.value

    class Updated(Changed):
        """Before intent-named events: any fields. Replayed, never triggered."""

    class Closed(Changed):
        fields = frozenset({"status"})

    class LoginChanged(Changed):
        fields = frozenset({"login"})

    class PasswordChanged(Changed):
        fields = frozenset({"password_hash"})

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.credentials_changed_at = self.timestamp

    def close(self) -> None:
        self.check_open()
        self.change(self.Closed, status="closed")

    def change_login(self, login: str | None) -> None:
        self.check_open()
        self.change(self.LoginChanged, login=login)

    def change_password(self, password_hash: str) -> None:
        """Set a new password, hashed by the caller so replay never hashes again."""
        self.check_open()
        self.change(self.PasswordChanged, password_hash=password_hash)


class Admin(Principal):
    """An operator of the whole service."""

    realm = Realm.ADMIN

    class Created(SwitchlogAggregate.Created):
        login: str
        password_hash: str
        admin_role: str

    def __init__(self, login: str, password_hash: str, admin_role: str) -> None:
        self.login = login
        self.password_hash = password_hash
        self.admin_role = admin_role
        self.status = "open"

    def role(self) -> str:
        return self.admin_role

    class Updated(Principal.Updated):
        """Before intent-named events: any fields. Replayed, never triggered."""

    class Closed(Principal.Closed):
        pass

    class LoginChanged(Principal.LoginChanged):
        pass

    class PasswordChanged(Principal.PasswordChanged):
        pass

    class RoleChanged(Changed):
        fields = frozenset({"admin_role"})

    class PasswordReset(SwitchlogAggregate.Event):
        """An operator replaced a lost or leaked password; the old one stops working."""

        password_hash: str

        def apply(self, aggregate: Any) -> None:
            aggregate.password_hash = self.password_hash
            aggregate.credentials_changed_at = self.timestamp

    def reset_password(self, password_hash: str) -> None:
        """Set a new password, hashed by the caller so replay never hashes again."""
        self.check_open()
        self.trigger_event(self.PasswordReset, password_hash=password_hash)

    def change_role(self, role: str) -> None:
        self.check_open()
        self.change(self.RoleChanged, admin_role=role)


class Reseller(Principal):
    """A company that resells the service to its own customers."""

    realm = Realm.RESELLER

    class Created(SwitchlogAggregate.Created):
        name: str
        login: str | None
        password_hash: str | None

    def __init__(self, name: str, login: str | None, password_hash: str | None) -> None:
        self.name = name
        self.login = login
        self.password_hash = password_hash
        self.status = "open"

    class Updated(Principal.Updated):
        """Before intent-named events: any fields. Replayed, never triggered."""

    class Closed(Principal.Closed):
        pass

    class LoginChanged(Principal.LoginChanged):
        pass

    class PasswordChanged(Principal.PasswordChanged):
        pass

    class Renamed(Changed):
        fields = frozenset({"name"})

    def rename(self, name: str) -> None:
        self.check_open()
        self.change(self.Renamed, name=name)

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        return (Owner(reseller_id=aggregate_id),)

    def owners(self) -> Sequence[Owner]:
        return (Owner(reseller_id=self.id),)


class Customer(Principal):
    """A company or person billed for the service, directly or through a reseller."""

    realm = Realm.CUSTOMER
    # v1 had no time zone; customers were billed in UTC.
    class_version = 2

    class Created(SwitchlogAggregate.Created):
        class_version = 2

        name: str
        currency: str
        time_zone: str
        reseller_id: UUID | None
        login: str | None
        password_hash: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["time_zone"] = "UTC"

    def __init__(
        self,
        name: str,
        currency: str,
        time_zone: str,
        reseller_id: UUID | None,
        login: str | None,
        password_hash: str | None,
    ) -> None:
        self.name = name
        self.currency = currency
        self.time_zone = time_zone
        self.reseller_id = reseller_id
        self.login = login
        self.password_hash = password_hash
        self.status = "open"

    class Updated(Principal.Updated):
        """Before intent-named events: any fields. Replayed, never triggered."""

    class Closed(Principal.Closed):
        pass

    class LoginChanged(Principal.LoginChanged):
        pass

    class PasswordChanged(Principal.PasswordChanged):
        pass

    class Renamed(Changed):
        fields = frozenset({"name"})

    class Moved(Changed):
        """The customer now belongs to another reseller (or to none)."""

        fields = frozenset({"reseller_id"})

    class DetailsChanged(Changed):
        """Plain descriptive fields, on this allow-list only."""

        fields = frozenset({"currency", "time_zone"})

    def rename(self, name: str) -> None:
        self.check_open()
        self.change(self.Renamed, name=name)

    def move_to(self, reseller_id: UUID | None) -> None:
        """Move under another reseller; the event belongs to both, so both see it."""
        self.check_open()
        if reseller_id == self.reseller_id:
            return
        # The new owner first: Kafka's and the envelope's owner attributes name the first.
        self._moving = [Owner(reseller_id, self.id), Owner(self.reseller_id, self.id)]
        try:
            self.change(self.Moved, reseller_id=reseller_id)
        finally:
            self._moving = []

    def change_details(self, **details: Any) -> None:
        self.check_open()
        self.change(self.DetailsChanged, **details)

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        return (Owner(fields.get("reseller_id"), aggregate_id),)

    def owners(self) -> Sequence[Owner]:
        return getattr(self, "_moving", None) or [Owner(self.reseller_id, self.id)]


class Account(CustomerOwned, Principal):
    """A SIP/billing account of a customer, identified by its login (e.g. ph46170x466)."""

    owning_account = "id"

    realm = Realm.ACCOUNT

    class Created(SwitchlogAggregate.Created):
        # v1 did not name the customer's reseller at the time.
        class_version = 2

        customer_id: UUID
        reseller_id: UUID | None
        login: str
        password_hash: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["reseller_id"] = None

    def __init__(
        self,
        customer_id: UUID,
        reseller_id: UUID | None,
        login: str,
        password_hash: str | None,
    ) -> None:
        self.customer_id = customer_id
        self.reseller_id = reseller_id
        self.login = login
        self.password_hash = password_hash
        self.status = "open"

    class Updated(Principal.Updated):
        """Before intent-named events: any fields. Replayed, never triggered."""

    class Closed(Principal.Closed):
        pass

    class LoginChanged(Principal.LoginChanged):
        pass

    class PasswordChanged(Principal.PasswordChanged):
        pass

    # A blocked account may not log in or place calls; `blocked_by` is the blocker's realm.
    blocked: bool = False
    blocked_by: str | None = None

    class Blocked(Changed):
        fields = frozenset({"blocked", "blocked_by"})

    class Unblocked(Changed):
        fields = frozenset({"blocked", "blocked_by"})

    def block(self, by: Realm) -> None:
        """Block it (again, by a higher realm: then only that realm or above unblocks it)."""
        self.check_open()
        if not self.blocked or _BLOCK_RANK[by] > _BLOCK_RANK[Realm(self.blocked_by or by)]:
            self.change(self.Blocked, blocked=True, blocked_by=by.value)

    def unblock(self, by: Realm) -> None:
        """Unblock it, unless a higher realm blocked it (an admin's block binds customers)."""
        self.check_open()
        if not self.blocked:
            return
        if _BLOCK_RANK[by] < _BLOCK_RANK[Realm(self.blocked_by or by)]:
            raise ForbiddenError(
                f"account {self.login} was blocked by the {self.blocked_by};"
                f" only the {self.blocked_by} can unblock it"
            )
        self.change(self.Unblocked, blocked=False, blocked_by=None)


# Who may lift whose block: a block binds every realm ranked below the one that set it.
_BLOCK_RANK = {
    Realm.ACCOUNT: 0,
    Realm.CUSTOMER: 1,
    Realm.RESELLER: 2,
    Realm.ADMIN: 3,
    Realm.SYSTEM: 3,
}
