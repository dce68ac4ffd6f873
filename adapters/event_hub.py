"""Live event fan-out in the API process: one tail of the log, a cursor per subscriber.

The hub reads the store's notification log (the truth, gap-free and ordered) into a ring of
recent events, each serialized once. A subscriber is only a position: it reads from the ring
when its position is recent, from the store when it resumes from further back, and waits
for the hub otherwise. A slow subscriber therefore never slows the others down.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool

from adapters.envelope import to_envelope
from adapters.observability import FailureLog
from adapters.store import NotificationLogSource
from domain.shared.aggregate import event_type
from domain.shared.owners import Owner

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StreamItem:
    """One published event as the ring keeps it: serialized once, few objects to keep.

    (The ring holds thousands of these; every container kept here is traversed by the
    garbage collector's full passes, which then pause every stream.)
    """

    position: int
    type: str
    subject: UUID
    owners: tuple[Owner, ...]
    json: str


class EventHub:
    def __init__(
        self,
        source: NotificationLogSource,
        ring_size: int = 10_000,
        poll_seconds: float = 0.01,
    ) -> None:
        self.source = source
        self.ring_size = ring_size
        self.poll_seconds = poll_seconds
        self._items: list[StreamItem] = []
        self._positions: list[int] = []
        self.head = 0
        self._complete_after = 0  # the ring holds every published event after this position
        self._changed: asyncio.Condition | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.failures = FailureLog(log, "event-hub")

    # -- the tail ----------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self.head = self._complete_after = await run_in_threadpool(self.source.max_position)
        while True:
            try:
                head, items = await run_in_threadpool(self.read, self.head, 1000)
            except Exception as error:
                self.failures.failed("reading the log", error)
                await asyncio.sleep(1)
                continue
            if head > self.head:
                self._append(head, items)
                async with self._changed:
                    self._changed.notify_all()
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    def wake(self) -> None:
        """Called from any thread after an append, so live subscribers hear of it at once."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _append(self, head: int, items: list[StreamItem]) -> None:
        self._items += items
        self._positions += [i.position for i in items]
        if len(self._items) > 2 * self.ring_size:
            self._complete_after = self._positions[-self.ring_size - 1]
            del self._items[: -self.ring_size]
            del self._positions[: -self.ring_size]
        self.head = head

    def read(self, after: int, limit: int) -> tuple[int, list[StreamItem]]:
        """Events after a position, as stream items (blocking: call it off the event loop)."""
        batch = self.source.read(after, limit)
        items = []
        for logged in batch:
            event = logged.event
            if not getattr(event, "audited", False):
                continue  # internal bookkeeping (name reservations) is not published
            items.append(
                StreamItem(
                    position=logged.position,
                    type=event_type(event),
                    subject=event.originator_id,
                    owners=tuple(event.owners),
                    json=_json(to_envelope(logged.position, event)),
                )
            )
        return (batch[-1].position if batch else after), items

    # -- subscribers -------------------------------------------------------------
    async def follow(
        self, after: int, wanted: Callable[[StreamItem], bool], idle_seconds: float = 15.0
    ) -> AsyncIterator[list[StreamItem] | None]:
        """Wanted events after `after`, forever, in batches of whatever is ready.

        Yields None when idle (time for a heartbeat). Batches let a busy stream send many
        events per write instead of paying a write per event.
        """
        assert self._changed is not None, "the hub is not running"
        cursor = after
        while True:
            if cursor >= self._complete_after:
                items = self._items[bisect.bisect_right(self._positions, cursor) :]
                if not items:
                    cursor = max(cursor, self.head)
            else:
                cursor, items = await run_in_threadpool(self.read, cursor, 500)
            if items:
                cursor = max(cursor, items[-1].position)
                batch = [item for item in items if wanted(item)]
                if batch:
                    yield batch
                continue
            async with self._changed:
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda c=cursor: self.head > c), idle_seconds
                    )
                except TimeoutError:
                    yield None


def _json(envelope: dict[str, Any]) -> str:
    return json.dumps(envelope, separators=(",", ":"))
