"""Delivering state callbacks: signed, in order per call, retried briefly, never stuck.

Only the oldest pending callback of a call is sent, so a call's states arrive in order;
calls go out in parallel, so one slow receiver holds up only its own calls. A failed
callback is retried on the schedule (1, 2, 4, 8 s, then every 8 s) and given up
`give_up` seconds after its first attempt, and the call's later states then go on. A 2xx
marks it delivered: it is never sent again.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx

from adapters.net import check_public_target
from adapters.secrets import SecretBox
from adapters.sql import Database, Row
from adapters.webhook_delivery import Outcome, signed_headers
from domain.shared.aggregate import iso
from domain.shared.clock import SYSTEM_CLOCK, Clock
from domain.shared.errors import DomainError

log = logging.getLogger(__name__)


class CallbackDeliverer:
    def __init__(
        self,
        db: Database,
        secrets: SecretBox,
        schedule: Sequence[float],
        give_up: float,
        timeout: float,
        allow_private: bool,
        clock: Clock = SYSTEM_CLOCK,
        workers: int = 16,
    ) -> None:
        self.db = db
        self.secrets = secrets
        self.schedule = list(schedule) or [1.0]
        self.give_up = give_up
        self.allow_private = allow_private
        self.clock = clock
        self._http = httpx.Client(timeout=timeout, follow_redirects=False)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="call-callback")
        self._inflight: set[str] = set()
        self._done: queue.Queue[tuple[Row, Outcome]] = queue.Queue()
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def due(self, limit: int = 200) -> list[Row]:
        """Each call's oldest pending callback, when it is due."""
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchall(
                "SELECT o.*, s.secret FROM call_callbacks o"
                " LEFT JOIN call_signing_secrets s ON s.principal_id = o.principal_id"
                " WHERE o.status = 'pending' AND o.next_attempt_at <= %s"
                " AND o.seq = (SELECT MIN(i.seq) FROM call_callbacks i"
                " WHERE i.call_id = o.call_id AND i.status = 'pending')"
                " ORDER BY o.created_at LIMIT %s",
                (iso(self.clock.now()), limit),
            )

    def send(self, row: Row) -> Outcome:
        try:
            check_public_target(row["url"], self.allow_private)
        except DomainError as error:
            return Outcome(None, error.detail)
        if row["secret"] is None:
            return Outcome(None, "the signing secret is not projected yet")
        message_id = f"cb_{row['call_id'].replace('-', '')}_{row['seq']}"
        try:
            headers = signed_headers(
                self.secrets.open(row["secret"]),
                message_id,
                self.clock.now(),
                row["payload"],
                "application/json",
            )
        except Exception as error:
            return Outcome(None, f"cannot sign: {type(error).__name__}: {error}"[:500])
        try:
            response = self._http.post(row["url"], content=row["payload"], headers=headers)
        except httpx.HTTPError as error:
            return Outcome(None, f"{type(error).__name__}: {error}"[:500])
        return Outcome(response.status_code, None if response.is_success else response.text[:500])

    def record(self, done: Sequence[tuple[Row, Outcome]]) -> None:
        """Outcomes of a round, written in one transaction (one commit, not one each)."""
        now = self.clock.now()
        updates = []
        for row, outcome in done:
            attempts = int(row["attempts"]) + 1
            first = _parse(row["first_attempt_at"]) or now
            if outcome.delivered:
                status, next_at = "delivered", now
            elif (now - first).total_seconds() >= self.give_up:
                status, next_at = "failed", now
                log.warning(
                    "state callback %s #%s to %s given up after %s attempts: %s",
                    row["call_id"],
                    row["seq"],
                    row["url"],
                    attempts,
                    outcome.error or f"HTTP {outcome.status}",
                )
            else:
                delay = self.schedule[min(attempts, len(self.schedule)) - 1]
                status, next_at = "pending", now + timedelta(seconds=delay)
            updates.append(
                (
                    status,
                    attempts,
                    iso(next_at),
                    iso(first),
                    outcome.status,
                    outcome.error,
                    iso(now) if outcome.delivered else None,
                    row["call_id"],
                    row["seq"],
                )
            )
        with self.db.transaction() as tx:
            tx.executemany(
                "UPDATE call_callbacks SET status = %s, attempts = %s, next_attempt_at = %s,"
                " first_attempt_at = %s, last_status = %s, last_error = %s, delivered_at = %s"
                " WHERE call_id = %s AND seq = %s",
                updates,
            )

    def _deliver(self, row: Row) -> None:
        try:
            outcome = self.send(row)
        except Exception as error:
            outcome = Outcome(None, f"{type(error).__name__}: {error}"[:500])
        self._done.put((row, outcome))
        self._wake.set()

    def run_once(self) -> int:
        """Record what finished, then start each call's due head not already in flight."""
        done: list[tuple[Row, Outcome]] = []
        while True:
            try:
                done.append(self._done.get_nowait())
            except queue.Empty:
                break
        if done:
            self.record(done)
            with self._lock:  # only once recorded, so the same head is not sent twice
                for row, _outcome in done:
                    self._inflight.discard(row["call_id"])
        started = 0
        for row in self.due():
            with self._lock:
                if row["call_id"] in self._inflight:
                    continue
                self._inflight.add(row["call_id"])
            self._pool.submit(self._deliver, row)
            started += 1
        return started + len(done)

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event, poll_seconds: float = 0.02) -> None:
        while not stop.is_set():
            self._wake.clear()  # before the round: a wake during it starts the next at once
            try:
                self.run_once()
            except Exception:
                log.exception("the state callback outbox round failed")
                stop.wait(1)
            self._wake.wait(poll_seconds)

    def outbox(self, call_id: str) -> list[Row]:
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchall(
                "SELECT * FROM call_callbacks WHERE call_id = %s ORDER BY seq", (call_id,)
            )

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
