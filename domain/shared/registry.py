"""Event types by their public name, for consumers that rebuild events from an envelope."""

from __future__ import annotations

from functools import cache

from domain.shared.aggregate import SwitchlogAggregate


def _aggregates(root: type[SwitchlogAggregate]) -> list[type[SwitchlogAggregate]]:
    found = []
    for sub in root.__subclasses__():
        found.append(sub)
        found += _aggregates(sub)
    return found


@cache
def event_classes() -> dict[str, tuple[type[SwitchlogAggregate.Event], type[SwitchlogAggregate]]]:
    """`Customer.Created` -> (its event class, the aggregate class it belongs to)."""
    import domain.directory.aggregates
    import domain.webhooks.aggregates  # noqa: F401

    registry: dict[str, tuple[type[SwitchlogAggregate.Event], type[SwitchlogAggregate]]] = {}
    for aggregate in _aggregates(SwitchlogAggregate):
        for attribute in vars(aggregate).values():
            if isinstance(attribute, type) and issubclass(attribute, SwitchlogAggregate.Event):
                registry.setdefault(attribute.__qualname__, (attribute, aggregate))
    return registry
