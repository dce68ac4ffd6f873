"""Billing periods, invoices, replay and reprocess: the parts that read the log.

Everything an invoice holds is computed from events, never from the read models: the
period's xDRs are the `billing.Leg.Rated` events (and their `Leg.Rerated` corrections) of
the customer whose connect time falls in the period, read up to a log position; the
customer's zone and class come from the catalogue as of that position. Closing records
that position in the invoice, so a replay reads exactly what the close read.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from adapters.observability import FailureLog
from adapters.sql import Database
from domain.billing import invoices, periods
from domain.billing.application import BillingService
from domain.billing.catalogue import DEFAULT_CLASS, Catalogue
from domain.billing.invoices import Invoice
from domain.billing.xdrs import CUSTOMER, RERATED_FIELDS, Leg
from domain.calls.legs import Leg as CallLeg
from domain.shared.actor import Actor, CommandContext
from domain.shared.aggregate import iso
from domain.shared.clock import SYSTEM_CLOCK, Clock
from domain.shared.errors import ConflictError, NotFoundError

log = logging.getLogger(__name__)
RATED, RERATED = get_topic(Leg.Rated), get_topic(Leg.Rerated)
FINISHED = get_topic(CallLeg.Finished)
CLOSER = Actor.system("billing-closer")
BATCH = 5000
XDR_FIELDS = tuple(
    p for p in inspect.signature(Leg.__init__).parameters if p not in ("self",)
)  # every field the xDR carries


@dataclass
class Replayed:
    customer_id: UUID
    period: str
    version: int
    position: int
    content: dict[str, Any]
    content_hash: str
    xdrs: list[dict[str, Any]] = field(default_factory=list)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return invoices.money(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _needles(windows: dict[UUID, Any]) -> list[bytes] | None:
    """For a few customers, their ids as the store's JSON holds them (hex): an event not
    naming one is skipped before it is decoded (UUIDs are hex, owners' ids dashed). None:
    too many to test, decode all."""
    if len(windows) > 16:
        return None
    return [form for c in windows for form in (c.hex.encode(), str(c).encode())]


class Invoicer:
    """Closes periods (by request or on schedule), replays them, reprocesses them."""

    def __init__(
        self,
        service: BillingService,
        db: Database,
        rater: Any,
        tax_percent: Decimal = Decimal(0),
        grace: timedelta = timedelta(hours=1),
        clock: Clock = SYSTEM_CLOCK,
        calls_up: Callable[[UUID, datetime], int] | None = None,
    ) -> None:
        self.service = service
        self.db = db
        self.rater = rater
        self.tax_percent = tax_percent
        self.grace = grace
        self.clock = clock
        self.calls_up = calls_up or (lambda customer, end: 0)
        self.failures = FailureLog(log, "the billing closer")

    # -- reading the log -----------------------------------------------------------------
    def _notifications(self, topics: Sequence[str], stop: int) -> Iterator[Any]:
        recorder = self.service.recorder
        after = 0
        while True:
            batch = recorder.select_notifications(
                after, BATCH, stop=stop, topics=topics, inclusive_of_start=False
            )
            yield from batch
            if len(batch) < BATCH:
                return
            after = batch[-1].id

    def head(self) -> int:
        return self.service.recorder.max_notification_id() or 0

    def xdrs_of(
        self,
        customer_id: UUID,
        period: periods.Period,
        position: int,
        reprocess_id: UUID | None = None,
    ) -> list[dict]:
        """The customer-level xDRs of the customer whose connect time is in the period, as
        the log holds them up to `position` (corrections applied, and those of the
        reprocess `reprocess_id`, appended with the invoice it issued), by connect time."""
        found = self.xdrs_in({customer_id: period}, position, reprocess_id)[customer_id]
        return sorted(found.values(), key=lambda x: (x["connect_time"], str(x["leg_id"])))

    def xdrs_in(
        self,
        windows: dict[UUID, periods.Period],
        position: int,
        reprocess_id: UUID | None = None,
    ) -> dict[UUID, dict[UUID, dict[str, Any]]]:
        """One pass over the log: each customer's xDRs in its window, by leg id."""
        found: dict[UUID, dict[UUID, dict[str, Any]]] = {c: {} for c in windows}
        by_xdr: dict[UUID, dict[str, Any]] = {}
        decode = self.service.mapper.to_domain_event
        stop = position if reprocess_id is None else self.head()
        needles = _needles(windows)
        for notification in self._notifications([RATED, RERATED], stop):
            if notification.id > position and (notification.topic == RATED or reprocess_id is None):
                continue
            if notification.topic == RATED:
                if needles is not None and not any(n in notification.state for n in needles):
                    continue  # cheap: another customer's (decoding is most of the cost)
            elif notification.originator_id not in by_xdr:
                continue
            event = decode(notification)
            if notification.id > position and event.reprocess_id != reprocess_id:
                continue
            if notification.topic == RATED:
                window = windows.get(event.customer_id)
                if (
                    window is None
                    or event.level != CUSTOMER
                    or not window.holds(event.connect_time)
                ):
                    continue
                fields = {name: getattr(event, name) for name in XDR_FIELDS}
                fields["id"] = event.originator_id
                fields["position"] = notification.id
                found[event.customer_id][event.leg_id] = by_xdr[event.originator_id] = fields
            else:
                xdr = by_xdr.get(event.originator_id)
                if xdr is not None:
                    for name in RERATED_FIELDS:
                        xdr[name] = getattr(event, name)
        return found

    def legs_in(self, windows: dict[UUID, periods.Period], position: int) -> dict[UUID, list[Any]]:
        """One pass over the log: each customer's finished legs connected in its window."""
        decode = self.service.mapper.to_domain_event
        legs: dict[UUID, list[Any]] = {c: [] for c in windows}
        needles = _needles(windows)
        for notification in self._notifications([FINISHED], position):
            if needles is not None and not any(n in notification.state for n in needles):
                continue
            event = decode(notification)
            owner = event.owners[0] if event.owners else None
            window = windows.get(owner.customer_id) if owner is not None else None
            if window is None or event.connect_time is None:
                continue
            if window.holds(event.connect_time):
                legs[owner.customer_id].append(event)
        return legs

    def _content(
        self, catalogue: Catalogue, customer_id: UUID, xdrs: Sequence[dict], tax: Decimal
    ) -> dict[str, Any]:
        party = catalogue.customers.get(customer_id)
        rule = DEFAULT_CLASS
        if party is not None and party.class_id is not None:
            rule = catalogue.classes.get(party.class_id, DEFAULT_CLASS)
        currency = party.currency if party else None
        return invoices.compute(xdrs, rule.method, rule.invoice_precision, tax, currency)

    def _period(self, catalogue: Catalogue, customer_id: UUID, period_id: str) -> periods.Period:
        if customer_id not in catalogue.customers:
            raise NotFoundError(f"Customer {customer_id} not found")
        return periods.parse(period_id, catalogue.customers[customer_id].time_zone)

    # -- closing -------------------------------------------------------------------------
    def close(self, ctx: CommandContext, customer_id: UUID, period_id: str) -> UUID:
        """Close the customer's period and issue its invoice (once: closing again, or
        after a crash, finds the one issued). Refused while one of its calls is up."""
        self.service.may_close(ctx, customer_id)
        periods.parse(period_id)  # a bad id is refused before any work
        done = self.service.closed_invoice(customer_id, period_id)
        if done is not None:
            return done
        self.rater.catch_up()  # every leg finished so far is rated
        position = self.head()
        catalogue = self.rater.catalogue_at(position)
        period = self._period(catalogue, customer_id, period_id)
        up = self.calls_up(customer_id, period.end)
        if up:
            raise ConflictError(
                f"{up} call(s) of this customer connected before the period's end are still"
                " up; the period closes once they end"
            )
        xdrs = self.xdrs_of(customer_id, period, position)
        content = self._content(catalogue, customer_id, xdrs, self.tax_percent)
        return self.service.close_period(ctx, customer_id, period, content, position)

    def close_many(self, ctx: CommandContext, customers: Sequence[UUID], period_id: str) -> int:
        """Close the period of many customers reading the log once (a month's run, the
        benchmark); each still closes on its own, in one append. Returns how many closed;
        customers with a call still up are left for later."""
        self.rater.catch_up()
        position = self.head()
        catalogue = self.rater.catalogue_at(position)
        windows = {}
        for customer_id in customers:
            self.service.may_close(ctx, customer_id)
            if self.service.closed_invoice(customer_id, period_id) is not None:
                continue
            period = self._period(catalogue, customer_id, period_id)
            if not self.calls_up(customer_id, period.end):
                windows[customer_id] = period
        found = self.xdrs_in(windows, position)
        for customer_id, period in windows.items():
            xdrs = sorted(
                found[customer_id].values(), key=lambda x: (x["connect_time"], str(x["leg_id"]))
            )
            content = self._content(catalogue, customer_id, xdrs, self.tax_percent)
            self.service.close_period(ctx, customer_id, period, content, position)
        return len(windows)

    def close_due(self, kind: str = periods.MONTHLY) -> list[UUID]:
        """Close each customer's last period whose end plus the grace has passed (customers
        with xDRs in it); a period with calls still up waits for the next round."""
        now = self.clock.now()
        ctx = CommandContext(CLOSER)
        issued = []
        for customer_id, zone in self._candidates():
            current = periods.period_of(kind, now - self.grace, zone)
            previous = periods.period_of(kind, current.start - timedelta(seconds=1), zone)
            if not self._has_xdrs(customer_id, previous):
                continue
            try:
                issued.append(self.close(ctx, customer_id, previous.id))
            except ConflictError as error:
                log.info("period %s of %s not closed yet: %s", previous.id, customer_id, error)
        return issued

    def _candidates(self) -> list[tuple[UUID, str]]:
        catalogue = self.rater.catalogue_at(self.head())
        return [(cid, party.time_zone) for cid, party in catalogue.customers.items()]

    def _has_xdrs(self, customer_id: UUID, period: periods.Period) -> bool:
        with self.db.transaction(readonly=True) as tx:  # only to pick candidates
            row = tx.fetchone(
                "SELECT 1 AS one FROM billing_xdrs WHERE customer_id = %s AND level = %s"
                " AND connect_time >= %s AND connect_time < %s LIMIT 1",
                (str(customer_id), CUSTOMER, iso(period.start), iso(period.end)),
            )
        return row is not None

    def run(self, stop: threading.Event, poll_seconds: float = 60.0) -> None:
        while not stop.wait(poll_seconds):
            try:
                self.close_due()
            except Exception as error:
                self.failures.failed("closing due billing periods", error)

    # -- replay --------------------------------------------------------------------------
    def replay(
        self,
        customer_id: UUID,
        period_id: str,
        version: int | None = None,
        scratch: Path | None = None,
    ) -> Replayed:
        """Rebuild the period's xDRs and invoice from the log up to the position the issued
        invoice (version N, default the latest) recorded; never reads a read model."""
        issued = self._issued(customer_id, period_id, version)
        position = issued.position
        catalogue = self.rater.catalogue_at(position)
        period = self._period(catalogue, customer_id, period_id)
        xdrs = self.xdrs_of(customer_id, period, position, issued.reprocess_id)
        tax = Decimal(issued.totals["tax_percent"])
        content = self._content(catalogue, customer_id, xdrs, tax)
        replayed = Replayed(
            customer_id,
            period_id,
            issued.version_number,
            position,
            content,
            invoices.content_hash(content),
            [_plain(x) for x in xdrs],
        )
        if scratch is not None:
            scratch.mkdir(parents=True, exist_ok=True)
            with (scratch / "xdrs.jsonl").open("w") as out:
                for xdr in replayed.xdrs:
                    out.write(json.dumps(xdr, sort_keys=True) + "\n")
            (scratch / "invoice.json").write_text(
                json.dumps(
                    {**content, "content_hash": replayed.content_hash, "position": position},
                    indent=2,
                    sort_keys=True,
                )
            )
        return replayed

    def _issued(self, customer_id: UUID, period_id: str, version: int | None) -> Invoice:
        """Version N of the invoice, from the event store (the latest when N is None)."""
        if version is not None:
            return self.service.load(invoices.invoice_id(customer_id, period_id, version), Invoice)
        found: Invoice | None = None
        number = 1
        while True:
            try:
                found = self.service.load(
                    invoices.invoice_id(customer_id, period_id, number), Invoice
                )
            except NotFoundError:
                break
            number += 1
        if found is None:
            raise NotFoundError(f"no invoice of {customer_id} for {period_id}")
        return found

    # -- reprocess -----------------------------------------------------------------------
    def reprocess(
        self,
        ctx: CommandContext,
        job_id: UUID,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Re-rate the period's legs against the catalogue as it is now, void each invoice
        whose content changed and issue its next version with the diff; completes the job."""
        job = self.service.reprocess_job(job_id)
        try:
            results = self._reprocess(ctx, job, progress)
        except Exception as error:
            self.service.fail_reprocess(ctx, job_id, f"{type(error).__name__}: {error}")
            raise
        self.service.complete_reprocess(ctx, job_id, results)
        return results

    def _current(self, job: Any) -> list[UUID]:
        """The period's issued invoices (the read model only picks which to load; each is
        loaded from the store, and a stale pick is refused when it is voided)."""
        sql = "SELECT id FROM billing_invoices WHERE period = %s AND status = 'issued'"
        params: list[Any] = [job.period]
        if job.customer_id is not None:
            sql += " AND customer_id = %s"
            params.append(str(job.customer_id))
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(sql + " ORDER BY customer_id", params)
        return [UUID(r["id"]) for r in rows]

    def _reprocess(
        self, ctx: CommandContext, job: Any, progress: Callable[[int, int], None] | None
    ) -> list[dict[str, Any]]:
        current = [self.service.load(i, Invoice) for i in self._current(job)]
        if not current:
            return []  # nothing issued in that period: nothing to read
        self.rater.catch_up()
        position = self.head()
        catalogue = self.rater.catalogue_at(position)
        results = []
        windows = {
            old.customer_id: periods.Period(old.period, "", "UTC", old.start, old.end)
            for old in current
        }
        all_xdrs = self.xdrs_in(windows, position)
        all_legs = self.legs_in(windows, position)
        for done, old in enumerate(current, 1):
            xdrs = all_xdrs[old.customer_id]
            changes: list[tuple[UUID, dict[str, Any], dict[str, Any]]] = []
            priced = dict(xdrs)  # xDRs with no finished leg (subscription fees) stay as they are
            for leg in all_legs[old.customer_id]:
                before = xdrs.get(leg.leg_id)
                if before is None:
                    continue  # not rated yet (the rater rates it against this catalogue)
                (after,) = [x for x in catalogue.rate(leg) if x["level"] == CUSTOMER]
                change = invoices.xdr_change(_plain(before), _plain(after))
                if change is not None:
                    changes.append((before["id"], after, change))
                    priced[leg.leg_id] = {**before, **after}
            ordered = sorted(priced.values(), key=lambda x: (x["connect_time"], str(x["leg_id"])))
            tax = Decimal(old.totals["tax_percent"])
            content = self._content(catalogue, old.customer_id, ordered, tax)
            if changes or invoices.content_hash(content) != old.content_hash:
                new_id = self.service.reissue(
                    ctx, old.id, content, position, changes, job.reason, job.id
                )
                results.append(
                    {
                        "customer_id": str(old.customer_id),
                        "old_invoice_id": str(old.id),
                        "new_invoice_id": str(new_id),
                        "old_total": old.totals["total"],
                        "new_total": content["totals"]["total"],
                        "xdrs_changed": len(changes),
                    }
                )
            if progress is not None:
                progress(done, len(current))
        return results
