"""Runs projections: batches from an event source, rows and position in one transaction."""

from __future__ import annotations

import logging
import threading
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adapters.observability import PROJECTION_LAG, FailureLog
from adapters.sql import Database, Transaction
from domain.shared.aggregate import iso
from domain.shared.clock import SYSTEM_CLOCK, Clock
from projections.base import EventSource, Projection

log = logging.getLogger(__name__)

# Each read model's own position in the log and the schema version its rows were built with.
STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_state (name TEXT PRIMARY KEY,"
    " position BIGINT NOT NULL, schema_version BIGINT NOT NULL, updated_at TEXT NOT NULL)"
)

Progress = Callable[[int, int], None]


class PositionMovedError(RuntimeError):
    """Another runner committed this projection's batch first; ours is rolled back."""


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    head: int

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


class ProjectionRunner:
    """Catches projections up with the log; safe to run in several processes at once."""

    def __init__(
        self,
        source: EventSource,
        db: Database,
        projections: Sequence[Projection],
        batch_size: int = 500,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        self.source = source
        self.db = db
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self._wake = threading.Event()
        self._advanced = threading.Condition()
        self.generation = 0  # batches committed here: a waiter that missed one sees it
        self.applied = 0  # every read model holds the log up to here (as this runner knows)
        self.failures = FailureLog(log, "projections")

    def setup(self) -> list[str]:
        """Create the read models; rebuild those built with another schema version.

        A read model whose stored schema version differs from its code's is dropped and its
        position reset, in one transaction, so catching up rebuilds it by itself. Returns
        the names of the read models that have history to rebuild.
        """
        rebuilding = []
        history = self.source.max_position() > 0
        with self.db.schema_transaction() as tx:
            tx.execute(STATE_DDL)
            tx.execute("DROP TABLE IF EXISTS projection_positions")  # before schema versions
            for projection in self.projections.values():
                if self._reset_if_stale(tx, projection) and history:
                    rebuilding.append(projection.name)
        return rebuilding

    def _reset_if_stale(self, tx: Transaction, projection: Projection) -> bool:
        tx.execute(
            "INSERT INTO projection_state (name, position, schema_version, updated_at)"
            " VALUES (%s, 0, -1, %s) ON CONFLICT (name) DO NOTHING",
            (projection.name, self._now()),
        )
        # Row-locks the state on PostgreSQL, so two starting processes reset it once.
        tx.execute("UPDATE projection_state SET name = name WHERE name = %s", (projection.name,))
        row = tx.fetchone(
            "SELECT schema_version FROM projection_state WHERE name = %s", (projection.name,)
        )
        if row is not None and int(row["schema_version"]) == projection.version:
            projection.create(tx)
            return False
        stored = int(row["schema_version"]) if row else -1
        if stored != -1:
            log.warning(
                "read model %s is at schema version %s, the code's is %s: rebuilding it",
                projection.name,
                stored,
                projection.version,
            )
        projection.drop(tx)
        projection.create(tx)
        tx.execute(
            "UPDATE projection_state SET position = 0, schema_version = %s, updated_at = %s"
            " WHERE name = %s",
            (projection.version, self._now(), projection.name),
        )
        return True

    def get(self, name: str) -> Projection:
        try:
            return self.projections[name]
        except KeyError:
            known = ", ".join(sorted(self.projections))
            raise KeyError(f"no projection {name!r}; known: {known}") from None

    def position(self, name: str) -> int:
        with self.db.transaction(readonly=True) as tx:
            return self._position(tx, name)

    def status(self) -> list[ProjectionStatus]:
        head = self.source.max_position()
        return [ProjectionStatus(n, self.position(n), head) for n in self.projections]

    def step(self, names: Sequence[str] | None = None) -> int:
        """Apply the next batch to the named projections (all by default): the batch is
        read and decoded once, each projection takes the events past its own position,
        and every projection's rows and position commit in one transaction. Returns the
        number of events read (0 when all are caught up)."""
        chosen = [self.get(n) for n in names] if names else list(self.projections.values())
        with self.db.transaction(readonly=True) as tx:
            starts = {p.name: self._position(tx, p.name) for p in chosen}
        start = min(starts.values(), default=0)
        batch = self.source.read(start, self.batch_size)
        if not batch:
            return 0
        positions = [e.position for e in batch]
        end = batch[-1].position
        try:
            with self.db.transaction() as tx:
                with tx.pipeline():
                    for projection in chosen:
                        mine = batch[bisect_right(positions, starts[projection.name]) :]
                        if mine:
                            projection.apply_batch(tx, mine)
                for projection in chosen:
                    if starts[projection.name] >= end:
                        continue
                    moved = tx.execute(
                        "UPDATE projection_state SET position = %s, updated_at = %s"
                        " WHERE name = %s AND position = %s",
                        (end, self._now(), projection.name, starts[projection.name]),
                    )
                    if moved != 1:
                        raise PositionMovedError(projection.name)
        except PositionMovedError as moved_elsewhere:
            log.info("projection %s advanced elsewhere; batch discarded", moved_elsewhere)
            return 0
        behind = self.source.max_position() - end if len(batch) == self.batch_size else 0
        for projection in chosen:
            PROJECTION_LAG.labels(projection.name).set(max(behind, 0))
        with self._advanced:
            self.generation += 1
            if len(chosen) == len(self.projections):
                self.applied = max(self.applied, end)
            self._advanced.notify_all()
        return len(batch)

    def catch_up(self, names: Sequence[str] | None = None, progress: Progress | None = None) -> int:
        """Apply every event up to the log's head; the number of events read."""
        total = 0
        while applied := self.step(names):
            total += applied
            if progress:
                progress(
                    min(self.position(n) for n in names or self.projections),
                    self.source.max_position(),
                )
        return total

    def rebuild(self, name: str, progress: Progress | None = None) -> int:
        """Drop the read model and build it again from position zero."""
        self.reset([name])
        return self.catch_up([name], progress)

    def reset(self, names: Sequence[str]) -> None:
        """Drop the read models and set them back to position zero (catching up rebuilds
        them, together, from one read of each batch)."""
        projections = [self.get(name) for name in names]
        with self.db.transaction() as tx:
            for projection in projections:
                tx.execute(
                    "UPDATE projection_state SET schema_version = -1 WHERE name = %s",
                    (projection.name,),
                )
                self._reset_if_stale(tx, projection)

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
        """Follow the log until `stop` is set; a failing batch is retried, never skipped."""
        while not stop.is_set():
            try:
                self.catch_up()
            except Exception as error:
                self.failures.failed("a projection batch", error)
                stop.wait(1.0)
            self._wake.wait(poll_seconds)
            self._wake.clear()

    def wait_applied(self, position: int, timeout: float) -> bool:
        """Block until this runner has applied the log up to `position` to every read
        model, or `timeout` passes; whether it has."""
        with self._advanced:
            return self._advanced.wait_for(lambda: self.applied >= position, timeout)

    def wait_advanced(self, timeout: float, seen: int | None = None) -> int:
        """Block until a batch commits here after generation `seen` (at once if one already
        has), or `timeout` passes; the generation now."""
        with self._advanced:
            if seen is None or seen == self.generation:
                self._advanced.wait(timeout)
            return self.generation

    @staticmethod
    def _position(tx: Transaction, name: str) -> int:
        row = tx.fetchone("SELECT position FROM projection_state WHERE name = %s", (name,))
        return int(row["position"]) if row else 0

    def _now(self) -> str:
        return iso(self.clock.now())
