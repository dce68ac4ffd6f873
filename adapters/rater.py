"""The rater: a process manager that follows the log and turns each finished leg
(`calls.Leg.Finished`) into xDRs (`billing.Leg.Rated`, caused by that leg event).

It keeps its position durably (a row in the read-model database) and its catalogue
(`domain.billing.catalogue`) in memory, rebuilt from the log up to that position when it
starts, so each leg is rated against the catalogue as of its own position in the log. The
xDRs are appended before the position moves: after a crash in between, the batch is rated
again, and the xDRs' ids (`uuid5(leg_id, level)`) make the second append a no-op. Several
raters may run (serve and `switchlog billing rate`): the position moves by compare-and-set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from adapters.observability import FailureLog
from adapters.sql import Database
from domain.billing.application import RATER, BillingService
from domain.billing.catalogue import Catalogue
from domain.calls.legs import Leg as CallLeg
from domain.shared.actor import CommandContext
from domain.shared.aggregate import iso
from domain.shared.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)
NAME = "billing-rater"
STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS billing_rater_state (name TEXT PRIMARY KEY,"
    " position BIGINT NOT NULL, updated_at TEXT NOT NULL)"
)
FINISHED = get_topic(CallLeg.Finished)
#: Called with each batch's xDR fields after they are appended (billing part 2 hooks here).
RatedHook = Callable[[Sequence[dict[str, Any]]], None]


def cause_of(event: Any) -> CommandContext:
    """The rater acts on the leg's behalf: same correlation, caused by the leg event
    (named as the envelope names events: `<aggregate id>:<version>`)."""
    return CommandContext(
        RATER,
        correlation_id=event.correlation_id,
        causation_id=f"{event.originator_id}:{event.originator_version}",
    )


class Rater:
    """Follows the log and rates finished legs; see the module docstring."""

    def __init__(
        self,
        service: BillingService,
        db: Database,
        batch_size: int = 500,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.service = service
        self.db = db
        self.batch_size = batch_size
        self.clock = clock
        self.on_rated: list[RatedHook] = []
        self.catalogue_topics = [get_topic(kind) for kind in Catalogue().followed]
        self.topics = [*self.catalogue_topics, FINISHED]
        self._catalogue: Catalogue | None = None
        self._at = -1
        self._wake = threading.Event()
        self._advanced = threading.Condition()
        # serve's rater thread and a closer or reprocess catching up share this rater (and
        # its catalogue): one step at a time
        self._stepping = threading.Lock()
        self.failures = FailureLog(log, "the billing rater")

    def setup(self) -> None:
        with self.db.schema_transaction() as tx:
            tx.execute(STATE_DDL)
            tx.execute(
                "INSERT INTO billing_rater_state (name, position, updated_at) VALUES (%s, 0, %s)"
                " ON CONFLICT (name) DO NOTHING",
                (NAME, iso(self.clock.now())),
            )

    def position(self) -> int:
        with self.db.transaction(readonly=True) as tx:
            row = tx.fetchone("SELECT position FROM billing_rater_state WHERE name = %s", (NAME,))
        return int(row["position"]) if row else 0

    def catalogue_at(self, position: int, counted: bool = False) -> Catalogue:
        """The catalogue as the log built it up to `position` from its own events. Only
        where legs are rated again (the rater's rebuild, a reprocess) is it `counted`: once
        a bundle promotion was ever attached to a product, the finished legs are read too,
        in log order with those events, so its bundle counters are the rater's. Closes and
        replays read recorded xDRs and need only parties and classes: they skip the legs."""
        catalogue = self.advance(Catalogue(), 0, position)
        if counted and catalogue.product_bundles:
            catalogue = self.advance(Catalogue(), 0, position, self.topics)
        return catalogue

    def advance(
        self,
        catalogue: Catalogue,
        after: int,
        position: int,
        topics: Sequence[str] | None = None,
    ) -> Catalogue:
        """`catalogue` (built up to `after`) moved on to `position`: the events between
        (the catalogue's own; finished legs too when `topics` name them)."""
        topics = self.catalogue_topics if topics is None else topics
        while after < position:
            batch = self._read(after, 5000, topics, stop=position)
            for notification in batch:
                event = self._event(notification)
                if notification.topic == FINISHED:
                    catalogue.count(event)
                else:
                    catalogue.apply(event)
            if len(batch) < 5000:
                break
            after = batch[-1].id
        return catalogue

    def step(self) -> int:
        """Rate the next batch of finished legs; the number of events read (0: caught up)."""
        with self._stepping:
            return self._step()

    def _step(self) -> int:
        start = self.position()
        if self._catalogue is None or self._at != start:  # first run, or moved elsewhere
            self._catalogue = self.catalogue_at(start, counted=True)
            self._at = start
        batch = self._read(start, self.batch_size, self.topics)
        if not batch:
            return 0
        catalogue = self._catalogue
        rated: list[tuple[dict[str, Any], CommandContext]] = []
        try:
            for notification in batch:
                event = self._event(notification)
                if notification.topic == FINISHED:
                    context = cause_of(event)
                    rated += [(fields, context) for fields in catalogue.rate(event)]
                else:
                    catalogue.apply(event)
            self.service.record_xdrs(rated)
        except BaseException:
            self._catalogue = None  # it ran ahead of the position: rebuild it
            raise
        end = batch[-1].id
        with self.db.transaction() as tx:
            moved = tx.execute(
                "UPDATE billing_rater_state SET position = %s, updated_at = %s"
                " WHERE name = %s AND position = %s",
                (end, iso(self.clock.now()), NAME, start),
            )
        if moved != 1:
            log.info("the billing rater advanced elsewhere; this batch's xDRs were there")
            self._catalogue = None
            return 0
        self._at = end
        for hook in self.on_rated:
            hook([fields for fields, _ in rated])
        with self._advanced:
            self._advanced.notify_all()
        return len(batch)

    def catch_up(self) -> int:
        total = 0
        while read := self.step():
            total += read
        return total

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
        """Rate until `stop` is set; a failing batch is retried, never skipped."""
        while not stop.is_set():
            try:
                self.catch_up()
            except Exception as error:
                self.failures.failed("rating a batch of legs", error)
                stop.wait(1.0)
            self._wake.wait(poll_seconds)
            self._wake.clear()

    def _read(
        self, after: int, limit: int, topics: Sequence[str], stop: int | None = None
    ) -> Sequence[Notification]:
        return self.service.recorder.select_notifications(
            after, limit, stop=stop, topics=topics, inclusive_of_start=False
        )

    def _event(self, notification: Notification) -> Any:
        return self.service.mapper.to_domain_event(notification)
