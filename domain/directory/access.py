"""What each realm may see and change in the directory: the one place that decides it."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.shared.actor import Actor, Realm
from domain.shared.errors import ForbiddenError, NotFoundError


@dataclass(frozen=True)
class Scope:
    """An actor's view of the directory; a set id restricts that axis to that subject."""

    realm: Realm
    reseller_id: UUID | None = None
    customer_id: UUID | None = None
    account_id: UUID | None = None

    @classmethod
    def of(cls, actor: Actor) -> Scope:
        if actor.realm in (Realm.ADMIN, Realm.SYSTEM):
            return cls(actor.realm)
        subject = UUID(actor.id)
        if actor.realm is Realm.RESELLER:
            return cls(actor.realm, reseller_id=subject)
        if actor.realm is Realm.CUSTOMER:
            return cls(actor.realm, customer_id=subject)
        return cls(actor.realm, account_id=subject)

    @property
    def unrestricted(self) -> bool:
        return self.realm in (Realm.ADMIN, Realm.SYSTEM)

    def sees_reseller(self, reseller_id: UUID) -> bool:
        return self.unrestricted or reseller_id == self.reseller_id

    def sees_customer(self, customer_id: UUID, reseller_id: UUID | None) -> bool:
        return (
            self.unrestricted
            or (self.reseller_id is not None and reseller_id == self.reseller_id)
            or customer_id == self.customer_id
        )

    def sees_account(self, account_id: UUID, customer_id: UUID, reseller_id: UUID | None) -> bool:
        return self.sees_customer(customer_id, reseller_id) or account_id == self.account_id

    def require_admin(self) -> None:
        if not self.unrestricted:
            raise ForbiddenError(f"the {self.realm.value} realm may not do this")

    def require_reseller_or_admin(self) -> None:
        if not (self.unrestricted or self.realm is Realm.RESELLER):
            raise ForbiddenError(f"the {self.realm.value} realm may not do this")

    def require_visible(self, visible: bool, what: str) -> None:
        """Invisible subjects are reported missing, so their existence does not leak."""
        if not visible:
            raise NotFoundError(f"{what} not found")
