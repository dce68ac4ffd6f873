"""Who did it: the actor and command context carried by every event."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any
from uuid import uuid4

from domain.shared.errors import MissingActorError
from domain.shared.permissions import Access, Permissions, Section, require


class Realm(StrEnum):
    """The realm an actor authenticated in."""

    ADMIN = "admin"
    RESELLER = "reseller"
    CUSTOMER = "customer"
    ACCOUNT = "account"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """The principal a command is issued by, recorded on every event."""

    id: str
    realm: Realm
    role: str
    login: str | None = None
    individual_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies, on every event of every command.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["realm"] = self.realm.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Actor:
        return cls(
            id=data["id"],
            realm=_REALMS.get(data["realm"]) or Realm(data["realm"]),  # Realm() is slow
            role=data["role"],
            login=data.get("login"),
            individual_id=data.get("individual_id"),
        )

    @classmethod
    def system(cls, name: str, login: str | None = None) -> Actor:
        """An actor for work no person asked for (bootstrap, scheduler, operator CLI)."""
        return cls(id=f"system:{name}", realm=Realm.SYSTEM, role=name, login=login)


_REALMS = {realm.value: realm for realm in Realm}


@dataclass(frozen=True)
class CommandContext:
    """The actor plus the ids that tie a command to the request that caused it."""

    actor: Actor
    correlation_id: str = field(default_factory=lambda: str(uuid4()))
    causation_id: str | None = None
    #: The actor's role resolved per section (domain.shared.permissions); None: no role
    #: limits it (admin, reseller, system). Not recorded on events: the role id is.
    permissions: Permissions | None = None

    def require(self, section: Section, needed: Access) -> None:
        """Refuse unless the actor's role allows `needed` access to `section`."""
        require(self.permissions, section, needed)


_current: ContextVar[CommandContext | None] = ContextVar("switchlog_command", default=None)


@contextmanager
def acting_as(context: CommandContext) -> Iterator[CommandContext]:
    """Make `context` the one every event triggered inside the block records."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def current_context() -> CommandContext:
    """The active command context; refusing to go on without one keeps every event attributed."""
    context = _current.get()
    if context is None:
        raise MissingActorError("every command must name its actor")
    return context
