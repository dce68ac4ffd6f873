"""The directory: admins, resellers, customers and accounts."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from domain.shared.actor import Realm
from domain.shared.aggregate import SwitchlogAggregate


class Principal(SwitchlogAggregate):
    """A subject that can hold a login and authenticate in its realm."""

    realm: ClassVar[Realm]
    login: str | None
    password_hash: str | None
    status: str

    def role(self) -> str:
        return self.realm.value

    class Updated(SwitchlogAggregate.Changed):
        pass

    class Closed(SwitchlogAggregate.Changed):
        pass

    def update(self, **fields: Any) -> bool:
        self.check_open()
        return self.change(self.Updated, **fields)

    def close(self) -> None:
        self.check_open()
        self.change(self.Closed, status="closed")


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
        pass

    class Closed(Principal.Closed):
        pass

    class PasswordReset(SwitchlogAggregate.Event):
        """An operator replaced a lost or leaked password; the old one stops working."""

        password_hash: str

        def apply(self, aggregate: Any) -> None:
            aggregate.password_hash = self.password_hash

    def reset_password(self, password_hash: str) -> None:
        """Set a new password, hashed by the caller so replay never hashes again."""
        self.check_open()
        self.trigger_event(self.PasswordReset, password_hash=password_hash)


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
        pass

    class Closed(Principal.Closed):
        pass


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
        pass

    class Closed(Principal.Closed):
        pass


class Account(Principal):
    """A SIP/billing account of a customer, identified by its login (e.g. ph46170x466)."""

    realm = Realm.ACCOUNT

    class Created(SwitchlogAggregate.Created):
        customer_id: UUID
        login: str
        password_hash: str | None

    def __init__(self, customer_id: UUID, login: str, password_hash: str | None) -> None:
        self.customer_id = customer_id
        self.login = login
        self.password_hash = password_hash
        self.status = "open"

    class Updated(Principal.Updated):
        pass

    class Closed(Principal.Closed):
        pass
