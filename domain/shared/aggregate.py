"""The aggregate base: every event it triggers records the actor and correlation ids."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.shared import clock
from domain.shared.actor import Actor, current_context
from domain.shared.errors import ClosedError
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

    class Event(Aggregate.Event):
        audited: ClassVar[bool] = True

        actor: Actor
        correlation_id: str
        causation_id: str | None

    class Created(Event, Aggregate.Created):
        pass

    class Changed(Event):
        """Fields set to new values; `changes` maps each field to [before, after]."""

        changes: dict[str, list[Any]]

        def apply(self, aggregate: Aggregate) -> None:
            for name, (_before, after) in self.changes.items():
                setattr(aggregate, name, after)

    @classmethod
    def _create(cls: type[A], event_class: Any, **kwargs: Any) -> A:
        return super()._create(event_class, **{**kwargs, **_metadata()})

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        super().trigger_event(event_class, **{**kwargs, **_metadata()})

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


def event_type(event: object) -> str:
    """The stable, user-facing name of an event class, e.g. `Customer.Created`."""
    return type(event).__qualname__


def redact(field: str, value: Any) -> Any:
    return REDACTED if field in SECRET_FIELDS and value is not None else value


_ENVELOPE_FIELDS = frozenset(
    {
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
