"""The event registry: names by context, old names as aliases, duplicates refused."""

from __future__ import annotations

import pytest

from composition.contexts import CONTEXTS, REGISTRY
from domain.directory.aggregates import Customer
from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.errors import InvalidFilterError
from domain.shared.registry import ContextMismatchError, DuplicateEventNameError, EventRegistry


def test_every_event_is_named_by_its_context() -> None:
    names = REGISTRY.names
    assert "directory.Customer.Created" in names
    assert "webhooks.WebhookEndpoint.Registered" in names
    assert all(name.split(".")[0] in {c.name for c in CONTEXTS} for name in names)
    # The generic bases are never emitted, so they are no names a filter could use.
    assert "directory.Customer.Event" not in names
    assert "directory.Principal.Closed" not in names


def test_old_names_are_aliases_of_the_new_ones() -> None:
    registered = REGISTRY.resolve("Customer.Created")
    assert registered is not None and registered.event_class is Customer.Created
    assert REGISTRY.canonical(["Customer.Created", "directory.Account.Closed"]) == {
        "directory.Customer.Created",
        "directory.Account.Closed",
    }
    with pytest.raises(InvalidFilterError, match=r"Customer\.Updatd"):
        REGISTRY.canonical(["Customer.Updatd"])


class Customer2(SwitchlogAggregate):
    """Another context's aggregate that happens to be called like the directory's."""

    context = "directory"

    class Created(SwitchlogAggregate.Created):
        name: str

    def __init__(self, name: str) -> None:
        self.name = name


Customer2.Created.__qualname__ = "Customer.Created"  # the clash: same public name


def test_a_duplicate_event_name_is_refused_when_the_registry_is_built() -> None:
    contexts = {c.name: list(c.aggregates) for c in CONTEXTS}
    contexts["directory"].append(Customer2)
    with pytest.raises(DuplicateEventNameError, match=r"directory\.Customer\.Created"):
        EventRegistry(contexts)


def test_an_aggregate_listed_under_another_context_is_refused() -> None:
    with pytest.raises(ContextMismatchError, match="billing"):
        EventRegistry({"billing": [Customer]})
