"""The event registry: every event type by its public name, derived from the contexts' list.

Names are `<context>.<Aggregate>.<Event>`. A duplicate is refused when the registry is
built (at start-up), never resolved by whichever came first. Names from before contexts
named their events (`Customer.Created`) stay valid as aliases, so filters stored under
them (a webhook's event types) keep working.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from eventsourcing.domain import _created_event_classes  # the library's own bookkeeping

from domain.shared.aggregate import SwitchlogAggregate, event_name
from domain.shared.errors import InvalidFilterError


class RegistryError(RuntimeError):
    """The contexts' list is inconsistent: a programming error, refused at start-up."""


class DuplicateEventNameError(RegistryError):
    """Two event classes claim one public name."""


class ContextMismatchError(RegistryError):
    """An aggregate is listed under a context it does not name."""


@dataclass(frozen=True)
class RegisteredEvent:
    name: str
    event_class: type[SwitchlogAggregate.Event]
    aggregate: type[SwitchlogAggregate]


class EventRegistry:
    """Event classes by public name, for consumers that rebuild events or filter by name."""

    def __init__(self, contexts: Mapping[str, Sequence[type[SwitchlogAggregate]]]) -> None:
        self._events: dict[str, RegisteredEvent] = {}
        legacy: dict[str, set[str]] = {}
        for context, aggregates in contexts.items():
            for aggregate in aggregates:
                if getattr(aggregate, "context", None) != context:
                    raise ContextMismatchError(
                        f"{aggregate.__name__} is listed under {context!r}"
                        f" but names its context {getattr(aggregate, 'context', None)!r}"
                    )
                for event_class in _emitted(aggregate):
                    name = event_name(event_class)
                    found = self._events.get(name)
                    if found is not None and found.event_class is not event_class:
                        raise DuplicateEventNameError(
                            f"{name} is claimed by {found.event_class!r} and {event_class!r}"
                        )
                    self._events[name] = RegisteredEvent(name, event_class, aggregate)
                    legacy.setdefault(event_class.__qualname__, set()).add(name)
        # An old, context-less name is an alias only while it is unambiguous.
        self._aliases = {old: next(iter(new)) for old, new in legacy.items() if len(new) == 1}

    def __iter__(self) -> Iterator[RegisteredEvent]:
        return iter(self._events.values())

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._events)

    def resolve(self, name: str) -> RegisteredEvent | None:
        """The event a public name (or an old alias) stands for."""
        return self._events.get(self._aliases.get(name, name))

    def stored(self, names: Sequence[str]) -> list[str]:
        """Names kept from earlier (a webhook's types): each as its public name where it
        still resolves, else unchanged (it then matches nothing rather than failing)."""
        return [self._aliases.get(n, n) for n in names]

    def canonical(self, names: Sequence[str] | frozenset[str]) -> frozenset[str]:
        """Public names for given names or aliases; InvalidFilterError names the unknown."""
        unknown = sorted(n for n in names if self.resolve(n) is None)
        if unknown:
            raise InvalidFilterError(f"unknown event types: {', '.join(unknown)}")
        return frozenset(self._aliases.get(n, n) for n in names)


def _emitted(aggregate: type[SwitchlogAggregate]) -> Iterator[type[SwitchlogAggregate.Event]]:
    """The aggregate's own event classes that can be emitted (not the generic bases)."""
    created = _created_event_classes.get(aggregate, [])
    for attribute in vars(aggregate).values():
        if not isinstance(attribute, type) or not issubclass(attribute, SwitchlogAggregate.Event):
            continue
        if attribute.__name__ in ("Event", "Changed"):
            continue
        if issubclass(attribute, SwitchlogAggregate.Created) and attribute not in created:
            continue
        yield attribute  # type: ignore[misc]  # a Created subclass is an Event too


_installed: EventRegistry | None = None


def install(registry: EventRegistry) -> EventRegistry:
    """Make `registry` the one every consumer resolves names with (the composition root's)."""
    global _installed
    _installed = registry
    return registry


def registry() -> EventRegistry:
    if _installed is None:
        raise RuntimeError("no event registry installed: the composition root builds it")
    return _installed
