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
    """Frames waiting for one client, at most `size` from subscriptions.

    A subscription that finds the outbox full waits up to `patience` seconds for the client
    to read; a client that stays that far behind is told to resume from its last position
    and disconnected, so it holds no unbounded memory and never slows the hub or others.
    Replies (pong, errors) always fit: the queue keeps room for them.
    """

    REPLY_ROOM = 64

    def __init__(self, size: int, patience: float) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=size + self.REPLY_ROOM)
        self._size = size
        self._patience = patience
        self._space = asyncio.Event()
        self.overflowed = False

    async def put(self, frame: Any) -> bool:
        deadline = None
        while self._queue.qsize() >= self._size:  # the fast path skips this loop entirely
            loop = asyncio.get_running_loop()
            deadline = deadline or loop.time() + self._patience
            self._space.clear()
            try:
                await asyncio.wait_for(self._space.wait(), deadline - loop.time())
            except TimeoutError:
                self.overflowed = True
                self._queue.put_nowait(OVERFLOW)
                return False
        self._queue.put_nowait(frame)
        return True

    async def reply(self, frame: Any) -> None:
        if not self._queue.full():
            self._queue.put_nowait(frame)

    async def take(self) -> Any:
        """The next frame; OVERFLOW once the client fell too far behind and all is sent."""
        frame = await self._queue.get()
        self._space.set()
        return frame


async def pump(
    hub: EventHub,
    subscription: Subscription,
    outbox: Outbox,
    frame: Callable[[Subscription, list[StreamItem] | None], Any],
    most: int = 50,
) -> None:
    """Move a subscription's events into the outbox until it overflows or is cancelled."""
    async for batch in hub.follow(subscription.after, subscription.wanted):
        chunks = [batch[i : i + most] for i in range(0, len(batch), most)] if batch else [None]
        for chunk in chunks:
            if outbox.overflowed or not await outbox.put(frame(subscription, chunk)):
                return


async def send_with_deadline(send: Callable[[], Awaitable[None]], seconds: float) -> bool:
    """False when the client did not take the bytes in time (it is then dropped)."""
    try:
        async with asyncio.timeout(seconds):
            await send()
        return True
    except TimeoutError:
        return False


async def cancel(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
