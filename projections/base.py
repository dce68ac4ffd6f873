"""The projection framework: one class per read model, dispatching on event type."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any, ClassVar, Protocol

from adapters.sql import Transaction


class LoggedEventLike(Protocol):
    position: int
    event: Any


class EventSource(Protocol):
    """Where a projection reads the log from (the store's notification log, or Kafka)."""

    def read(self, after: int, limit: int) -> Sequence[LoggedEventLike]: ...
    def max_position(self) -> int: ...


class Projection:
    """A read model: its tables, and a handler per event type it cares about.

    Handlers must be idempotent per event: the runner commits rows and position in one
    transaction, and at-least-once sources (Kafka) may deliver an event twice.
    """

    name: ClassVar[str]
    schema: ClassVar[Sequence[str]] = ()
    tables: ClassVar[Sequence[str]] = ()
    # Raise it whenever the tables or what a handler writes change: the read model then
    # rebuilds itself from the log on the next start.
    version: ClassVar[int] = 1
    # May a scratch replay run it? Never for a read model that sends anything outward.
    replay_safe: ClassVar[bool] = True

    def create(self, tx: Transaction) -> None:
        for statement in self.schema:
            tx.execute(statement)

    def drop(self, tx: Transaction) -> None:
        for table in self.tables:
            tx.execute(f"DROP TABLE IF EXISTS {table}")

    def apply_batch(self, tx: Transaction, batch: Sequence[LoggedEventLike]) -> None:
        for item in batch:
            self.handle(item.event, tx, item.position)

    def handle(self, event: object, tx: Transaction, position: int) -> None:
        """`apply`, without its cost: `self.apply(...)` builds a bound dispatcher on every
        call (functools), which was the largest cost of catching up."""
        _dispatcher(type(self))(type(event))(self, event, tx, position)

    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Events a read model has no handler for leave it unchanged."""

    def dump(self, tx: Transaction) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table, in a stable order (to compare with a rebuild)."""
        return {table: tx.fetchall(f"SELECT * FROM {table} ORDER BY 1, 2") for table in self.tables}


@functools.cache
def _dispatcher(kind: type[Projection]) -> Any:
    """The `apply` singledispatch registry of a projection class (its own, or inherited)."""
    descriptor = inspect.getattr_static(kind, "apply")
    return descriptor.dispatcher.dispatch
