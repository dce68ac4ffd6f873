"""Time, injected: the domain, projections and adapters ask a clock, never the system.

Tests move a `ManualClock` instead of sleeping; a running process can be given a clock a
test moves (the adapters' file clock, behind a test-only setting).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where "now" comes from."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time, timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment

    def advance(self, by: timedelta | float) -> datetime:
        step = by if isinstance(by, timedelta) else timedelta(seconds=by)
        with self._lock:
            self._now += step
            return self._now


SYSTEM_CLOCK = SystemClock()
_current: ContextVar[Clock] = ContextVar("switchlog_clock", default=SYSTEM_CLOCK)


def now() -> datetime:
    """The current command's clock's time (the system's outside a command)."""
    return _current.get().now()


@contextmanager
def ticking(clock: Clock) -> Iterator[Clock]:
    """Make `clock` the one events triggered inside the block take their time from."""
    token = _current.set(clock)
    try:
        yield clock
    finally:
        _current.reset(token)
