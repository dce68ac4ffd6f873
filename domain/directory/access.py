"""What each realm may see and change in the directory: the one place that decides it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from domain.shared.actor import Actor, Realm
from domain.shared.errors import ForbiddenError, InvalidFilterError, NotFoundError
from domain.shared.owners import Owner
from domain.shared.registry import registry


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


Owners = Sequence[Owner]


def owner_key(scope: Scope) -> tuple[str, UUID] | None:
    """Which owner field must name the scope's principal for it to see an event (None: it
    sees every event). Read models that keep owners filter on this same key in SQL."""
    if scope.unrestricted:
        return None
    if scope.reseller_id is not None:
        return ("reseller_id", scope.reseller_id)
    if scope.customer_id is not None:
        return ("customer_id", scope.customer_id)
    assert scope.account_id is not None
    return ("account_id", scope.account_id)


def sees_event(scope: Scope, owners: Owners) -> bool:
    """May this scope see an event with these owners? The one place it is decided, from
    the event alone (no store lookups): audit, SSE, WebSocket and webhooks all ask here.
    Unowned events are for admins only."""
    key = owner_key(scope)
    if key is None:
        return True
    field, principal = key
    return any(getattr(owner, field) == principal for owner in owners)


@dataclass(frozen=True)
class EventFilter:
    """A subscriber's choice of events: by type, by subject, by customer (all optional)."""

    types: frozenset[str] = frozenset()
    subject: UUID | None = None
    customer_id: UUID | None = None

    FIELDS = ("types", "subject", "customer")

    @classmethod
    def parse(cls, raw: object) -> EventFilter:
        """Validate a filter as clients send it: an object of `types`, `subject`, `customer`.

        The one validator for every way to follow events (audit, SSE, WebSocket, webhooks),
        so a typo is refused the same way everywhere instead of silently matching nothing.
        """
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise InvalidFilterError("a filter must be an object")
        unknown_fields = sorted(set(raw) - set(cls.FIELDS))
        if unknown_fields:
            raise InvalidFilterError(
                f"unknown filter fields: {', '.join(map(str, unknown_fields))}"
                f" (known: {', '.join(cls.FIELDS)})"
            )
        types = _event_types(raw.get("types"))
        return cls(
            types, _uuid(raw.get("subject"), "subject"), _uuid(raw.get("customer"), "customer")
        )

    def matches(self, event_type: str, subject: UUID, owners: Owners) -> bool:
        return (
            (not self.types or event_type in self.types)
            and (self.subject is None or subject == self.subject)
            and (
                self.customer_id is None
                or any(owner.customer_id == self.customer_id for owner in owners)
            )
        )

    def authorize(self, scope: Scope, owners_of: Callable[[UUID], Owners]) -> None:
        """Refuse filters naming something the scope may not see (no silent empty stream)."""
        for named, what in ((self.customer_id, "customer"), (self.subject, "subject")):
            if named is not None and not sees_event(scope, owners_of(named)):
                raise ForbiddenError(f"this token may not follow that {what}'s events")


def _event_types(types: object) -> frozenset[str]:
    if types is None:
        return frozenset()
    if not isinstance(types, list | tuple) or not all(isinstance(t, str) for t in types):
        raise InvalidFilterError("types must be a list of event type names")
    return registry().canonical(types)


def _uuid(value: object, what: str) -> UUID | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str | UUID):
        raise InvalidFilterError(f"{what} must be a UUID")
    try:
        return value if isinstance(value, UUID) else UUID(value)
    except ValueError:
        raise InvalidFilterError(f"{what} must be a UUID") from None
