"""The aggregate base: every event it triggers records the actor and correlation ids."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.shared import clock
from domain.shared.actor import Actor, current_context
from domain.shared.errors import ClosedError, InvalidValueError
from domain.shared.owners import Owner
from domain.shared.values import Secret

SECRET_FIELDS = frozenset({"password_hash", "secret"})
REDACTED = "***"

A = TypeVar("A", bound="SwitchlogAggregate")


def _metadata() -> dict[str, Any]:
    context = current_context()
    return {
        "timestamp": clock.now(),
        "actor": context.actor,
        "correlation_id": context.correlation_id,
        "causation_id": context.causation_id,
    }


class SwitchlogAggregate(Aggregate):
    """Base aggregate; subclasses define explicit, versionable event classes."""

    # The bounded context the aggregate belongs to: its events are named
    # `<context>.<Aggregate>.<Event>`, e.g. `directory.Customer.Created`.
    context: ClassVar[str]

    class Event(Aggregate.Event):
        audited: ClassVar[bool] = True

        actor: Actor
        correlation_id: str
        causation_id: str | None
        owners: list[Owner]

    class Created(Event, Aggregate.Created):
        pass

    class Changed(Event):
        """Fields set to new values; `changes` maps each field to [before, after].

        Each intent-named subclass (`Renamed`, `LoginChanged`...) lists the fields it may
        change; the generic base allows none, so only an allow-list reaches the log.
        """

        fields: ClassVar[frozenset[str]] = frozenset()
        changes: dict[str, list[Any]]

        def apply(self, aggregate: Aggregate) -> None:
            for name, (_before, after) in self.changes.items():
                setattr(aggregate, name, after)

    @classmethod
    def _create(cls: type[A], event_class: Any, *, id: Any = None, **kwargs: Any) -> A:
        if id is None:
            accepted = _parameters(cls.create_id)
            id = cls.create_id(**{k: v for k, v in kwargs.items() if k in accepted})
        owners = list(cls.created_owners(id, kwargs))
        return super()._create(event_class, id=id, **{**kwargs, **_metadata(), "owners": owners})

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        metadata = {**_metadata(), "owners": list(self.owners())}
        super().trigger_event(event_class, **{**kwargs, **metadata})

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        """Whom the created event belongs to, from the new aggregate's id and fields."""
        return ()

    def owners(self) -> Sequence[Owner]:
        """Whom this aggregate's events belong to (none: only admins see them)."""
        return ()

    def diff(self, **fields: Any) -> dict[str, list[Any]]:
        """The [before, after] pairs of the fields that would really change."""
        return {
            name: [getattr(self, name), value]
            for name, value in fields.items()
            if getattr(self, name) != value
        }

    def check_open(self) -> None:
        if getattr(self, "status", "open") != "open":
            raise ClosedError(f"{type(self).__name__} {self.id} is closed")

    def change(self, event_class: type[Changed], **fields: Any) -> bool:
        """Trigger `event_class` for the fields that differ; False when nothing differs."""
        refused = sorted(set(fields) - event_class.fields)
        if refused:
            raise InvalidValueError(
                f"{event_name(event_class)} may not change {', '.join(refused)}"
            )
        changes = self.diff(**fields)
        if not changes:
            return False
        self.trigger_event(event_class, changes=changes)
        return True

    def public_state(self) -> dict[str, Any]:
        """The aggregate's fields as users see them (secrets left out)."""
        state = {
            name: value
            for name, value in vars(self).items()
            if not name.startswith("_") and name not in SECRET_FIELDS
        }
        return {"id": self.id, "version": self.version, **state}


class CustomerOwned:
    """An aggregate of one customer, and so of that customer's reseller, which can move.

    Its events belong to (reseller, customer[, account]). The customer's `Moved` records a
    move; the service tells each aggregate whose the customer is now (`belongs_to`) before a
    command, so its events name the current reseller. `owning_account` names the field
    holding the account its events also belong to (`"id"`: the aggregate is the account).
    """

    owning_account: ClassVar[str | None] = None
    id: UUID
    reseller_id: UUID | None
    customer_id: UUID

    def belongs_to(self, reseller_id: UUID | None) -> None:
        self.reseller_id = reseller_id

    @classmethod
    def created_owners(cls, aggregate_id: UUID, fields: dict[str, Any]) -> Sequence[Owner]:
        key = cls.owning_account
        account = aggregate_id if key == "id" else fields[key] if key else None
        return (Owner(fields["reseller_id"], fields["customer_id"], account),)

    def owners(self) -> Sequence[Owner]:
        key = self.owning_account
        account = getattr(self, key) if key else None
        return (Owner(self.reseller_id, self.customer_id, account),)


def event_type(event: object) -> str:
    """The stable, user-facing name of an event, e.g. `directory.Customer.Created`."""
    return event_name(type(event))


_NAMES: dict[type, str] = {}


def event_name(event_class: type) -> str:
    """`<context>.<Aggregate>.<Event>`: the context comes from the aggregate the class is in."""
    name = _NAMES.get(event_class)
    if name is None:
        outer: Any = sys.modules[event_class.__module__]
        for part in event_class.__qualname__.split(".")[:-1]:
            outer = getattr(outer, part)
        context = getattr(outer, "context", None)
        if not isinstance(context, str):
            raise TypeError(f"{outer!r} does not name its bounded context")
        name = _NAMES[event_class] = f"{context}.{event_class.__qualname__}"
    return name


def redact(field: str, value: Any) -> Any:
    return REDACTED if field in SECRET_FIELDS and value is not None else value


_ENVELOPE_FIELDS = frozenset(
    {
        "owners",
        "originator_id",
        "originator_version",
        "originator_topic",
        "timestamp",
        "actor",
        "correlation_id",
        "causation_id",
    }
)


def as_utc(moment: datetime | None) -> datetime | None:
    """A time as given by a user: without an offset it is taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """One fixed ISO-8601 form for stored times, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


_JSON_SCALARS = frozenset({str, int, float, bool})


def plain(value: Any) -> Any:
    """A JSON-ready copy of an event value (UUIDs, times and decimals as strings)."""
    if value is None or type(value) in _JSON_SCALARS:  # most values: the fast path
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, Owner):  # owners named in an event's own fields (a call's parties)
        return value.as_dict()
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Enum):
        return value.value
    return value


def event_data(event: Any) -> dict[str, Any]:
    """An event's own fields (envelope fields left out, secrets redacted), JSON-ready."""
    data = {}
    for name, value in vars(event).items():
        if name == "changes":
            value = {k: [redact(k, old), redact(k, new)] for k, (old, new) in value.items()}
        if name not in _ENVELOPE_FIELDS:
            data[name] = plain(redact(name, value))
    return data


def event_changes(event: Any) -> dict[str, dict[str, Any]]:
    """What an event changed: each field's value before and after it."""
    changes = getattr(event, "changes", None)
    if isinstance(changes, dict):
        pairs = {name: (before, after) for name, (before, after) in changes.items()}
    else:
        pairs = {
            name: (None, value) for name, value in event_data(event).items() if value is not None
        }
    return {
        name: {"before": plain(redact(name, before)), "after": plain(redact(name, after))}
        for name, (before, after) in pairs.items()
    }


# Events stored before ownership travelled on events read back as belonging to no one
# (admins only): the field has no default in __init__, so new events must name owners.
SwitchlogAggregate.Event.owners = ()  # type: ignore[assignment]


@functools.cache
def _parameters(function: Any) -> frozenset[str]:
    """The parameter names of an aggregate's `create_id` (asked once per class)."""
    return frozenset(inspect.signature(function).parameters)
