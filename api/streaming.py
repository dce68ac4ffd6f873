"""Delivering hub events to one client: a bounded buffer, and a clear end for slow readers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.event_hub import EventHub, StreamItem

Wanted = Callable[[StreamItem], bool]
OVERFLOW = object()


@dataclass
class Subscription:
    """One followed filter; `delivered` is the last position handed to the client."""

    key: str
    after: int
    wanted: Wanted
    delivered: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Outbox:
    """Frames waiting for one slow-or-fast client; overflowing it ends the connection.

    Subscriptions feed it without ever waiting, so a reader that falls behind by more than
    `size` frames is told to resume from its last position instead of holding memory or
    slowing the hub.
    """

    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=size + 1)
        self._size = size
        self.overflowed = False

    def offer(self, frame: Any) -> bool:
        if self.overflowed:
            return False
        if self._queue.qsize() >= self._size:
            self.overflowed = True
            self._queue.put_nowait(OVERFLOW)
            return False
        self._queue.put_nowait(frame)
        return True

    async def take(self) -> Any:
        return await self._queue.get()


async def pump(
    hub: EventHub,
    subscription: Subscription,
    outbox: Outbox,
    frame: Callable[[Subscription, StreamItem | None], Any],
) -> None:
    """Move a subscription's events into the outbox until it overflows or is cancelled."""
    async for item in hub.follow(subscription.after, subscription.wanted):
        if not outbox.offer(frame(subscription, item)):
            return


async def send_with_deadline(send: Callable[[], Awaitable[None]], seconds: float) -> bool:
    """False when the client did not take the bytes in time (it is then dropped)."""
    try:
        await asyncio.wait_for(send(), seconds)
        return True
    except TimeoutError:
        return False


async def cancel(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
