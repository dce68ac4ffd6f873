"""Delivering hub events to one client: a bounded buffer, and a clear end for slow readers."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
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
    Replies (pong, errors) are never refused.
    """

    def __init__(self, size: int, patience: float) -> None:
        self._frames: deque[Any] = deque()
        self._size = size
        self._patience = patience
        self._changed = asyncio.Condition()
        self.overflowed = False

    async def put(self, frame: Any) -> bool:
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: len(self._frames) < self._size),
                    self._patience,
                )
            except TimeoutError:
                self.overflowed = True
                self._changed.notify_all()
                return False
            self._frames.append(frame)
            self._changed.notify_all()
            return True

    async def reply(self, frame: Any) -> None:
        async with self._changed:
            self._frames.append(frame)
            self._changed.notify_all()

    async def take(self) -> Any:
        """The next frame; OVERFLOW once the client fell too far behind and all is sent."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._frames) or self.overflowed)
            frame = self._frames.popleft() if self._frames else OVERFLOW
            self._changed.notify_all()
            return frame


async def pump(
    hub: EventHub,
    subscription: Subscription,
    outbox: Outbox,
    frame: Callable[[Subscription, StreamItem | None], Any],
) -> None:
    """Move a subscription's events into the outbox until it overflows or is cancelled."""
    async for item in hub.follow(subscription.after, subscription.wanted):
        if outbox.overflowed or not await outbox.put(frame(subscription, item)):
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
