"""The scripted network: an `Endpoints` adapter whose numbers behave as scripted.

Each number answers after N ms, or is busy, declines, never answers, plays early media,
hangs up after N ms. It keeps no call logic: it only reports what a far end does through
the port's `FarEnd` callbacks, exactly as the SIP adapter will, on the injectable clock.
The demo, the tests and the load benchmark drive real calls through it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from domain.calls.ports import FarEnd
from domain.calls.states import Reason
from domain.shared.clock import Clock

log = logging.getLogger(__name__)
Rejection = Literal["busy", "no_answer", "declined"]


@dataclass(frozen=True)
class Script:
    """How a number behaves when a leg is placed to it."""

    answer_after_ms: int = 1000
    hangup_after_ms: int | None = None
    early_media_ms: int | None = None
    ring_timeout_s: float = 30
    reject: Rejection | None = None


UNSCRIPTED = Script()  # answers after 1 s and stays up until hung up


@dataclass
class _Leg:
    call_id: UUID
    number: str
    up: bool = True
    bridged_to: UUID | None = None


class ScriptedNetwork:
    """Scripted far ends on a timer thread; reports go out on per-call worker threads, so
    one call's reports keep their order and a slow call never holds the others up."""

    def __init__(
        self,
        clock: Clock,
        start: Callable[[str, Callable[[threading.Event], None]], None],
        workers: int = 4,
    ) -> None:
        self.clock = clock
        self._start = start
        self._workers = workers
        self.scripts: dict[str, Script] = {}
        self._legs: dict[UUID, _Leg] = {}
        self._timers: list[tuple[datetime, int, UUID, Callable[[], None]]] = []
        self._order = itertools.count()
        self._lock = threading.Condition()
        self._queues: list[queue.Queue[Callable[[], None] | None]] = []
        self._far_end: FarEnd | None = None
        self._started = False

    # -- Endpoints ---------------------------------------------------------------------
    def attach(self, far_end: FarEnd) -> None:
        self._far_end = far_end

    def script(self, number: str, script: Script) -> None:
        with self._lock:
            self.scripts[number] = script

    def place(self, call_id: UUID, leg_id: UUID, number: str, cli: str) -> None:
        self._ensure_started()
        with self._lock:
            script = self.scripts.get(number, UNSCRIPTED)
            self._legs[leg_id] = _Leg(call_id, number)
        far = self._far
        if script.reject == "busy":
            self._after(0, leg_id, lambda: far().far_end_rejected(call_id, leg_id, Reason.BUSY))
            return
        self._after(0, leg_id, lambda: far().far_end_ringing(call_id, leg_id))
        if script.early_media_ms is not None:
            self._after(script.early_media_ms, leg_id, lambda: far().far_end_early(call_id, leg_id))
        timeout_ms = int(script.ring_timeout_s * 1000)
        if script.reject == "declined":
            self._after(
                min(script.answer_after_ms, timeout_ms),
                leg_id,
                lambda: far().far_end_rejected(call_id, leg_id, Reason.DECLINED),
            )
            return
        if script.reject == "no_answer" or script.answer_after_ms >= timeout_ms:
            self._after(
                timeout_ms,
                leg_id,
                lambda: far().far_end_rejected(call_id, leg_id, Reason.NO_ANSWER),
            )
            return
        self._after(script.answer_after_ms, leg_id, lambda: far().far_end_answered(call_id, leg_id))
        if script.hangup_after_ms is not None:
            self._after(
                script.answer_after_ms + script.hangup_after_ms,
                leg_id,
                lambda: far().far_end_hung_up(call_id, leg_id),
            )

    def bridge(self, a: UUID, b: UUID) -> None:
        with self._lock:
            for one, other in ((a, b), (b, a)):
                if one in self._legs:
                    self._legs[one].bridged_to = other

    def play(self, leg_id: UUID, prompt: str) -> None:
        log.debug("playing %s to leg %s", prompt, leg_id)

    def hang_up(self, leg_id: UUID) -> None:
        with self._lock:
            leg = self._legs.pop(leg_id, None)
        if leg is not None:
            leg.up = False

    def knows(self, leg_id: UUID) -> bool:
        with self._lock:
            return leg_id in self._legs

    @property
    def legs_up(self) -> int:
        with self._lock:
            return len(self._legs)

    # -- timers and workers ----------------------------------------------------------
    def _far(self) -> FarEnd:
        if self._far_end is None:
            raise RuntimeError("the scripted network reports to no one (attach a FarEnd)")
        return self._far_end

    def _after(self, ms: int, leg_id: UUID, report: Callable[[], None]) -> None:
        due = self.clock.now() + timedelta(milliseconds=ms)
        with self._lock:
            heapq.heappush(self._timers, (due, next(self._order), leg_id, report))
            self._lock.notify()

    def _ensure_started(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            self._queues = [queue.Queue() for _ in range(self._workers)]
        for n, inbox in enumerate(self._queues):
            self._start(f"network-{n}", lambda stop, q=inbox: self._work(stop, q))
        self._start("network-timers", self._tick)

    def _tick(self, stop: threading.Event) -> None:
        while not stop.is_set():
            due: list[tuple[UUID, Callable[[], None]]] = []
            with self._lock:
                now = self.clock.now()
                while self._timers and self._timers[0][0] <= now:
                    _at, _n, leg_id, report = heapq.heappop(self._timers)
                    due.append((leg_id, report))
                wait = 0.05
                if self._timers and not due:
                    wait = min(wait, (self._timers[0][0] - now).total_seconds())
                if not due:
                    self._lock.wait(max(wait, 0.0005))
                    continue
            for leg_id, report in due:
                self._dispatch(leg_id, report)

    def _dispatch(self, leg_id: UUID, report: Callable[[], None]) -> None:
        with self._lock:
            leg = self._legs.get(leg_id)
        if leg is None or not leg.up:
            return  # hung up from our side meanwhile: that far end has nothing to say
        self._queues[hash(leg.call_id) % len(self._queues)].put(
            lambda: self._report(leg_id, report)
        )

    def _report(self, leg_id: UUID, report: Callable[[], None]) -> None:
        with self._lock:
            leg = self._legs.get(leg_id)
        if leg is None or not leg.up:
            return
        report()

    def _work(self, stop: threading.Event, inbox: queue.Queue[Callable[[], None] | None]) -> None:
        while not stop.is_set():
            try:
                job = inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            if job is None:
                return
            try:
                job()
            except Exception:
                log.exception("a far-end report failed")
