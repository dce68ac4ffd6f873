"""Group commit's rules, with an insert whose timing the test controls."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from adapters.store import GroupCommit


class Store:
    """Numbers events like a log; the first transaction waits until told to go on."""

    def __init__(self) -> None:
        self.transactions: list[list[str]] = []
        self.go_on = threading.Event()
        self._ids = itertools.count(1)

    def insert(self, events: Sequence[StoredEvent]) -> list[int]:
        if not self.transactions:
            self.transactions.append([])  # the first one is under way
            self.go_on.wait(5)
            self.transactions[0] = [e.topic for e in events]
        else:
            self.transactions.append([e.topic for e in events])
        if any(e.topic.startswith("conflict") for e in events):
            raise IntegrityError("version already taken")
        return [next(self._ids) for _ in events]


def event(topic: str) -> StoredEvent:
    return StoredEvent(uuid4(), 1, topic, b"{}")


def run(commit: GroupCommit, names: list[str], store: Store) -> dict[str, object]:
    results: dict[str, object] = {}

    def write(name: str) -> None:
        try:
            results[name] = list(commit([event(f"{name}.1"), event(f"{name}.2")]))
        except IntegrityError as error:
            results[name] = error

    first = threading.Thread(target=write, args=(names[0],))
    first.start()
    while not store.transactions:
        time.sleep(0.001)
    others = [threading.Thread(target=write, args=(n,)) for n in names[1:]]
    for thread in others:
        thread.start()
    time.sleep(0.2)  # every other writer is queued behind the first transaction
    store.go_on.set()
    for thread in (first, *others):
        thread.join(5)
    return results


def test_writers_arriving_during_a_commit_share_the_next_transaction() -> None:
    store = Store()
    results = run(GroupCommit(store.insert), ["a", "b", "c", "d"], store)

    assert len(store.transactions) == 2
    assert store.transactions[0] == ["a.1", "a.2"]  # a lone writer went at once
    assert sorted(store.transactions[1]) == ["b.1", "b.2", "c.1", "c.2", "d.1", "d.2"]
    assert results["a"] == [1, 2]
    ids = sorted(i for name in "bcd" for i in results[name])  # type: ignore[attr-defined]
    assert ids == [3, 4, 5, 6, 7, 8]
    for name in "bcd":  # each caller gets the ids of its own events, in order
        first, second = results[name]  # type: ignore[misc]
        assert second == first + 1


def test_a_conflict_in_a_shared_transaction_fails_only_its_own_writer() -> None:
    store = Store()
    results = run(GroupCommit(store.insert), ["a", "b", "conflict", "d"], store)

    assert isinstance(results["conflict"], IntegrityError)
    for name in "abd":
        assert isinstance(results[name], list) and len(results[name]) == 2  # type: ignore[arg-type]
    # The shared attempt rolled back, then each of its writers committed alone.
    assert len(store.transactions) == 2 + 3


def test_a_failure_that_is_not_a_conflict_reaches_every_writer_in_the_group() -> None:
    def broken(events: Sequence[StoredEvent]) -> list[int]:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        GroupCommit(broken)([event("x")])
