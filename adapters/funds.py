"""The funds watcher: a process manager that follows each customer's money in the log
(charges `billing.Leg.Rated`/`.Rerated`, `billing.Payment.Received`, `billing.PaymentTerms.*`)
and records when a customer runs out of funds and gets them back, as
`billing.ServiceOutage.Recorded`/`.Ended` with condition `no_funds` (actor
`system:billing-funds`), so subscription credits for days without funds need no manual step.
The outage belongs to the customer's reseller as the directory has it at that point of the log
(`directory.Customer.Created`/`.Moved`): a customer moved to the operator or to another reseller
is no longer its old reseller's to see.

Each decision is a function of the log up to the event that caused it: an outage's id is
`uuid5(customer, position of the event that ran the funds out)`, its start that event's
time, its end the time of the event that brought `available` back to zero or more. The
position moves (compare-and-set) after the appends: a crash in between, a restart or a
second watcher decides the same again and the append is a conflict, left as it is.
Customers' funds are kept in memory, rebuilt from the log up to the position at start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from adapters.observability import FailureLog
from adapters.sql import Database
from domain.billing.application import BillingService
from domain.billing.balances import Funds, Payment, PaymentTerms
from domain.billing.xdrs import CUSTOMER, RATED, Leg
from domain.directory.aggregates import Customer as DirectoryCustomer
from domain.shared.aggregate import iso
from domain.shared.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)
NAME = "billing-funds"
STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS billing_funds_state (name TEXT PRIMARY KEY,"
    " position BIGINT NOT NULL, updated_at TEXT NOT NULL)"
)
FOLLOWED = (Leg.Rated, Leg.Rerated, Payment.Received, PaymentTerms.Agreed, PaymentTerms.Revised)
PLACING = (DirectoryCustomer.Created, DirectoryCustomer.Moved, DirectoryCustomer.Updated)


@dataclass
class Customer:
    """What the watcher knows of one customer: its funds, its reseller (the outage's
    owner; `placed` once the directory named it, else the latest money event's), and the
    position of the event that began its open no-funds outage."""

    funds: Funds = field(default_factory=Funds)
    reseller_id: UUID | None = None
    placed: bool = False
    out_since: int | None = None


@dataclass(frozen=True)
class Decision:
    customer_id: UUID
    reseller_id: UUID | None
    started_at: int  # the position of the event that ran the funds out
    at: datetime
    ends: bool  # False: the funds ran out at `at`; True: they are back at `at`


class FundsWatcher:
    """Follows customers' funds and records no-funds outages; see the module docstring."""

    def __init__(
        self,
        service: BillingService,
        db: Database,
        batch_size: int = 1000,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.service = service
        self.db = db
        self.batch_size = batch_size
        self.clock = clock
        self.topics = [get_topic(kind) for kind in (*FOLLOWED, *PLACING)]
        self.customers: dict[UUID, Customer] | None = None
        self._at = -1
        self._wake = threading.Event()
        self._stepping = threading.Lock()  # serve's thread and a test or CLI may share one
        self.failures = FailureLog(log, "the billing funds watcher")

    def setup(self) -> None:
        with self.db.schema_transaction() as tx:
            tx.execute(STATE_DDL)
            tx.execute(
                "INSERT INTO billing_funds_state (name, position, updated_at) VALUES (%s, 0, %s)"
                " ON CONFLICT (name) DO NOTHING",
                (NAME, iso(self.clock.now())),
            )

    def position(self) -> int:
        with self.db.transaction(readonly=True) as tx:
            row = tx.fetchone("SELECT position FROM billing_funds_state WHERE name = %s", (NAME,))
        return int(row["position"]) if row else 0

    # -- one step: read, decide, append, advance ------------------------------------------
    def read(self) -> tuple[int, Sequence[Notification]]:
        """The position and the next batch after it (the funds rebuilt when needed)."""
        start = self.position()
        if self.customers is None or self._at != start:  # first run, or moved elsewhere
            self._rebuild(start)
            self._at = start
        return start, self._read(start, self.batch_size)

    def decide(self, batch: Sequence[Notification]) -> list[Decision]:
        """Apply the batch to the funds in memory; what must be recorded."""
        return self._apply_all(batch, record=True)

    def act(self, decisions: Sequence[Decision]) -> int:
        """Append each decision (one recorded before is left as it is); how many were new."""
        made = 0
        for d in decisions:
            if d.ends:
                made += self.service.end_no_funds(d.customer_id, d.started_at, d.at)
            else:
                made += self.service.record_no_funds(
                    d.customer_id, d.reseller_id, d.started_at, d.at
                )
        return made

    def advance(self, start: int, end: int) -> bool:
        with self.db.transaction() as tx:
            moved = tx.execute(
                "UPDATE billing_funds_state SET position = %s, updated_at = %s"
                " WHERE name = %s AND position = %s",
                (end, iso(self.clock.now()), NAME, start),
            )
        if moved != 1:
            log.info("the funds watcher advanced elsewhere; this batch was recorded there")
            self.customers = None
            return False
        self._at = end
        return True

    def step(self) -> int:
        """Watch the next batch; the number of events read (0: caught up)."""
        with self._stepping:  # the funds in memory are one thread's at a time
            return self._step()

    def _step(self) -> int:
        start, batch = self.read()
        if not batch:
            return 0
        try:
            self.act(self.decide(batch))
        except BaseException:
            self.customers = None  # it ran ahead of the position: rebuild it
            raise
        self.advance(start, batch[-1].id)
        return len(batch)

    def catch_up(self) -> int:
        total = 0
        while read := self.step():
            total += read
        return total

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        """Watch until `stop` is set; a failing batch is retried, never skipped."""
        while not stop.is_set():
            try:
                self.catch_up()
            except Exception as error:
                self.failures.failed("watching customers' funds", error)
                stop.wait(1.0)
            self._wake.wait(poll_seconds)
            self._wake.clear()

    # -- helpers --------------------------------------------------------------------------
    def _apply_all(self, batch: Sequence[Notification], record: bool) -> list[Decision]:
        assert self.customers is not None
        decisions: list[Decision] = []
        for notification in batch:
            event = self.service.mapper.to_domain_event(notification)
            placed = _placed(event)
            if placed is not None:  # the directory names the customer's reseller
                customer = self.customers.setdefault(placed[0], Customer())
                customer.reseller_id, customer.placed = placed[1], True
                continue
            found = _change(event)
            if found is None:
                continue
            customer_id, reseller_id, change = found
            customer = self.customers.setdefault(customer_id, Customer())
            if not customer.placed:  # a money event's reseller may be stale (a re-rated leg)
                customer.reseller_id = reseller_id
            customer.funds = change(customer.funds)
            if customer.funds.no_funds and customer.out_since is None:
                customer.out_since = notification.id
                decisions.append(
                    Decision(
                        customer_id, customer.reseller_id, notification.id, event.timestamp, False
                    )
                )
            elif not customer.funds.no_funds and customer.out_since is not None:
                decisions.append(
                    Decision(
                        customer_id, customer.reseller_id, customer.out_since, event.timestamp, True
                    )
                )
                customer.out_since = None
        return decisions if record else []

    def _rebuild(self, position: int) -> None:
        """Every customer's funds as the log has them up to `position`."""
        self.customers = {}
        after = 0
        while after < position:
            batch = self._read(after, 5000, stop=position)
            self._apply_all(batch, record=False)
            if len(batch) < 5000:
                return
            after = batch[-1].id

    def _read(self, after: int, limit: int, stop: int | None = None) -> Sequence[Notification]:
        return self.service.recorder.select_notifications(
            after, limit, stop=stop, topics=self.topics, inclusive_of_start=False
        )


def _placed(event: Any) -> tuple[UUID, UUID | None] | None:
    """The customer and the reseller it belongs to from now on, if the event says so."""
    if isinstance(event, DirectoryCustomer.Created):
        return event.originator_id, event.reseller_id
    moved = isinstance(event, DirectoryCustomer.Moved | DirectoryCustomer.Updated)
    if moved and "reseller_id" in event.changes:
        return event.originator_id, event.changes["reseller_id"][1]
    return None


def _change(event: Any) -> tuple[UUID, UUID | None, Any] | None:
    """Whose funds the event changes, its reseller, and how."""
    if isinstance(event, Leg.Rated):
        if event.level != CUSTOMER or event.status != RATED or event.amount is None:
            return None
        amount = event.amount
        return event.customer_id, event.reseller_id, lambda f: f.charged(amount)
    if isinstance(event, Leg.Rerated):
        owner = event.owners[0] if event.owners else None
        if owner is None or owner.customer_id is None:
            return None  # a reseller-level xDR: the operator's price to the reseller
        delta = (event.amount or Decimal(0)) - (event.old_amount or Decimal(0))
        return owner.customer_id, owner.reseller_id, lambda f: f.charged(delta)
    if isinstance(event, Payment.Received):
        paid = event.amount
        return event.customer_id, event.reseller_id, lambda f: f.paid(paid)
    if isinstance(event, PaymentTerms.Agreed | PaymentTerms.Revised):
        owner = event.owners[0]
        mode, limit = event.mode, event.credit_limit
        return owner.customer_id, owner.reseller_id, lambda f: f.on_terms(mode, limit)
    return None
