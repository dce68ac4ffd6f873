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
from domain.billing.catalogue import DEFAULT_CLASS, Catalogue, Party
from domain.billing.invoices import Invoice, ResellerInvoice
from domain.billing.xdrs import CUSTOMER, RERATED_FIELDS, RESELLER, Leg
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


#: Up to which time and for which level; customers' and resellers' ids never collide.
CallsUp = Callable[[UUID, datetime], int]


def _party(event: Any, level: str) -> UUID | None:
    """Whose invoice an xDR goes to: its customer's, or (reseller level) its reseller's."""
    party: UUID | None = event.customer_id if level == CUSTOMER else event.reseller_id
    return party


def _billed(invoice: Any, level: str) -> UUID:
    """Whom an invoice bills: its customer, or (reseller level) its reseller."""
    party: UUID = invoice.customer_id if level == CUSTOMER else invoice.reseller_id
    return party


@dataclass
class Book:
    """A closer round's catalogue and the log position it was built up to: each close of
    the round moves it on to its own position instead of reading the log from the start."""

    catalogue: Catalogue
    at: int


@dataclass
class Replayed:
    customer_id: UUID  # the customer's id, or the reseller's for a reseller's invoice
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
        calls_up: CallsUp | None = None,
        reseller_calls_up: CallsUp | None = None,
    ) -> None:
        self.service = service
        self.db = db
        self.rater = rater
        self.tax_percent = tax_percent
        self.grace = grace
        self.clock = clock
        self.calls_up = calls_up or (lambda customer, end: 0)
        self.reseller_calls_up = reseller_calls_up or (lambda reseller, end: 0)
        self.failures = FailureLog(log, "the billing closer")
        #: Per party, the start of the last period the closer's walk found closed, every
        #: earlier one with xDRs closed too: the next round's walk starts there.
        self._walked: dict[tuple[str, UUID], datetime] = {}
        self._seen: int | None = None  # billing_xdrs' last position at the last round's start

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
        level: str = CUSTOMER,
    ) -> list[dict]:
        """The customer-level xDRs of the customer (or the reseller-level ones of a
        reseller) whose connect time is in the period, as the log holds them up to
        `position` (corrections applied, and those of the reprocess `reprocess_id`,
        appended with the invoice it issued), by connect time."""
        found = self.xdrs_in({customer_id: period}, position, reprocess_id, level)[customer_id]
        return sorted(found.values(), key=lambda x: (x["connect_time"], str(x["leg_id"])))

    def xdrs_in(
        self,
        windows: dict[UUID, periods.Period],
        position: int,
        reprocess_id: UUID | None = None,
        level: str = CUSTOMER,
    ) -> dict[UUID, dict[UUID, dict[str, Any]]]:
        """One pass over the log: each customer's (or reseller's, at `level`) xDRs in its
        window, by leg id."""
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
                party = _party(event, level)
                window = windows.get(party) if party is not None else None
                if window is None or event.level != level or not window.holds(event.connect_time):
                    continue
                assert party is not None
                fields = {name: getattr(event, name) for name in XDR_FIELDS}
                fields["id"] = event.originator_id
                fields["position"] = notification.id
                found[party][event.leg_id] = by_xdr[event.originator_id] = fields
            else:
                xdr = by_xdr.get(event.originator_id)
                if xdr is not None:
                    for name in RERATED_FIELDS:
                        xdr[name] = getattr(event, name)
        return found

    def legs_in(
        self, windows: dict[UUID, periods.Period], position: int, level: str = CUSTOMER
    ) -> dict[UUID, list[Any]]:
        """One pass over the log: each customer's (or reseller's) finished legs connected
        in its window."""
        decode = self.service.mapper.to_domain_event
        legs: dict[UUID, list[Any]] = {c: [] for c in windows}
        needles = _needles(windows)
        for notification in self._notifications([FINISHED], position):
            if needles is not None and not any(n in notification.state for n in needles):
                continue
            event = decode(notification)
            owner = event.owners[0] if event.owners else None
            party = _party(owner, level) if owner is not None else None
            window = windows.get(party) if party is not None else None
            if window is None or event.connect_time is None:
                continue
            if window.holds(event.connect_time):
                assert party is not None
                legs[party].append(event)
        return legs

    def _content(
        self,
        catalogue: Catalogue,
        customer_id: UUID,
        xdrs: Sequence[dict],
        tax: Decimal,
        level: str = CUSTOMER,
    ) -> dict[str, Any]:
        if level == RESELLER:  # no class: away from zero at 2, in the reseller's currency
            reseller = catalogue.resellers.get(customer_id)
            return invoices.compute(
                xdrs,
                DEFAULT_CLASS.method,
                DEFAULT_CLASS.invoice_precision,
                tax,
                reseller.currency if reseller else None,
            )
        party = catalogue.customers.get(customer_id)
        rule = DEFAULT_CLASS
        if party is not None and party.class_id is not None:
            rule = catalogue.classes.get(party.class_id, DEFAULT_CLASS)
        currency = party.currency if party else None
        return invoices.compute(xdrs, rule.method, rule.invoice_precision, tax, currency)

    def _period(
        self, catalogue: Catalogue, customer_id: UUID, period_id: str, level: str = CUSTOMER
    ) -> periods.Period:
        """The period as the party's schedule (kinds over time) and zone bill it; a period
        id of another kind is refused (422 `period_kind_mismatch`)."""
        if level == RESELLER:  # a reseller never configured: monthly, in UTC
            party = catalogue.resellers.get(customer_id, Party())
        elif customer_id not in catalogue.customers:
            raise NotFoundError(f"Customer {customer_id} not found")
        else:
            party = catalogue.customers[customer_id]
        return periods.window(party.schedule, period_id, party.time_zone)

    # -- closing -------------------------------------------------------------------------
    def close(
        self, ctx: CommandContext, customer_id: UUID, period_id: str, book: Book | None = None
    ) -> UUID:
        """Close the customer's period and issue its invoice (once: closing again, or
        after a crash, finds the one issued). Refused while one of its calls is up."""
        self.service.may_close(ctx, customer_id)
        periods.parse(period_id)  # a bad id is refused before any work
        done = self.service.closed_invoice(customer_id, period_id)
        if done is not None:
            return done
        self.rater.catch_up()  # every leg finished so far is rated
        position = self.head()
        catalogue = self._catalogue_at(position, book)
        period = self._period(catalogue, customer_id, period_id)
        periods.require_over(period, self.clock.now())
        up = self.calls_up(customer_id, period.end)
        if up:
            raise ConflictError(
                f"{up} call(s) of this customer connected before the period's end are still"
                " up; the period closes once they end"
            )
        xdrs = self.xdrs_of(customer_id, period, position)
        content = self._content(catalogue, customer_id, xdrs, self.tax_percent)
        return self.service.close_period(ctx, customer_id, period, content, position)

    def close_reseller(
        self, ctx: CommandContext, reseller_id: UUID, period_id: str, book: Book | None = None
    ) -> UUID:
        """Close the reseller's period (its own kind and zone) and issue the operator's
        invoice to it, summing its reseller-level xDRs (once, as for customers). Refused
        while a call of one of its customers that started before the period's end is up."""
        self.service.may_close_reseller(ctx, reseller_id)
        periods.parse(period_id)
        done = self.service.closed_reseller_invoice(reseller_id, period_id)
        if done is not None:
            return done
        self.rater.catch_up()
        position = self.head()
        catalogue = self._catalogue_at(position, book)
        period = self._period(catalogue, reseller_id, period_id, RESELLER)
        periods.require_over(period, self.clock.now())
        up = self.reseller_calls_up(reseller_id, period.end)
        if up:
            raise ConflictError(
                f"{up} call(s) of this reseller's customers connected before the period's end"
                " are still up; the period closes once they end"
            )
        xdrs = self.xdrs_of(reseller_id, period, position, level=RESELLER)
        content = self._content(catalogue, reseller_id, xdrs, self.tax_percent, RESELLER)
        return self.service.close_reseller_period(ctx, reseller_id, period, content, position)

    def close_many(self, ctx: CommandContext, customers: Sequence[UUID], period_id: str) -> int:
        """Close the period of many customers reading the log once (a month's run, the
        benchmark); each still closes on its own, in one append. Returns how many closed;
        customers whose period has not ended, or with a call still up, are left for later."""
        self.rater.catch_up()
        position = self.head()
        catalogue = self.rater.catalogue_at(position)
        now = self.clock.now()
        windows = {}
        for customer_id in customers:
            self.service.may_close(ctx, customer_id)
            if self.service.closed_invoice(customer_id, period_id) is not None:
                continue
            period = self._period(catalogue, customer_id, period_id)
            if period.end <= now and not self.calls_up(customer_id, period.end):
                windows[customer_id] = period
        found = self.xdrs_in(windows, position)
        for customer_id, period in windows.items():
            xdrs = sorted(
                found[customer_id].values(), key=lambda x: (x["connect_time"], str(x["leg_id"]))
            )
            content = self._content(catalogue, customer_id, xdrs, self.tax_percent)
            self.service.close_period(ctx, customer_id, period, content, position)
        return len(windows)

    def close_due(self) -> list[UUID]:
        """Close every period of each customer and each reseller (of its own kinds over
        time, in its own zone) whose end plus the grace has passed and that holds xDRs,
        oldest first, however long the closer was down. A party's walk starts at its first
        xDR (never before its activity), and, once this closer has seen a run of its periods
        closed, at the last of them. A period with a call still up stops that party's walk
        until the next round (its later periods wait: invoices stay in period order).
        Returns the invoices issued this round, oldest first, ending (as before) with the
        latest over period's invoice even when it was closed before."""
        moment = self.clock.now() - self.grace
        ctx = CommandContext(CLOSER)
        at = self.head()
        catalogue = self.rater.catalogue_at(at)
        book = Book(catalogue, at)  # one catalogue a round, moved on by each close
        issued = []
        head, late = self._arrivals()
        for level, party_id, party in self._candidates(catalogue):
            walked = self._walked.get((level, party_id))
            if walked is not None and (level, party_id) in late:  # back-dated usage, late
                self._walked[(level, party_id)] = min(walked, late[(level, party_id)])
            close = self.close if level == CUSTOMER else self.close_reseller
            closed_of = (
                self.service.closed_invoice
                if level == CUSTOMER
                else self.service.closed_reseller_invoice
            )
            found: list[tuple[UUID, bool]] = []  # (invoice, issued this round)
            for period in self._due(level, party_id, party, moment):
                done = closed_of(party_id, period.id)
                if done is None:
                    try:
                        done = close(ctx, party_id, period.id, book)
                    except ConflictError as error:
                        log.info("period %s of %s not closed yet: %s", period.id, party_id, error)
                        break
                    found.append((done, True))
                else:
                    found.append((done, False))
                self._walked[(level, party_id)] = period.start  # closed up to here
            issued += [i for n, (i, new) in enumerate(found, 1) if new or n == len(found)]
        self._seen = head
        return issued

    def _catalogue_at(self, position: int, book: Book | None) -> Catalogue:
        """The catalogue at `position`: the round's, moved on, when a closer round holds one
        (a close reads parties and classes only: no leg counters)."""
        if book is None:
            built: Catalogue = self.rater.catalogue_at(position)
            return built
        if position > book.at:
            self.rater.advance(book.catalogue, book.at, position)
            book.at = position
        return book.catalogue

    def _arrivals(self) -> tuple[int, dict[tuple[str, UUID], datetime]]:
        """`billing_xdrs`' last position now, and for each party the earliest connect time
        of its xDRs recorded since the last round (back-dated usage in an open period before
        where the walk starts: it moves the start back). Indexed on position."""
        with self.db.transaction(readonly=True) as tx:
            row = tx.fetchone("SELECT MAX(position) AS last FROM billing_xdrs")
            head = int(row["last"]) if row and row["last"] is not None else 0
            if self._seen is None:
                return head, {}  # the first round walks every party from its first xDR
            rows = tx.fetchall(
                "SELECT level, customer_id, reseller_id, MIN(connect_time) AS first"
                " FROM billing_xdrs WHERE position > %s AND position <= %s"
                " GROUP BY level, customer_id, reseller_id",
                (self._seen, head),
            )
        late: dict[tuple[str, UUID], datetime] = {}
        for r in rows:
            party = r["customer_id"] if r["level"] == CUSTOMER else r["reseller_id"]
            if party is None:
                continue
            key, first = (r["level"], UUID(party)), datetime.fromisoformat(r["first"])
            late[key] = min(first, late.get(key, first))
        return head, late

    def _due(
        self, level: str, party_id: UUID, party: Party, moment: datetime
    ) -> Iterator[periods.Period]:
        """The party's periods over at `moment` that hold xDRs, oldest first: from its first
        xDR (or where this closer's walk last found them closed), one query a period."""
        cursor = self._walked.get((level, party_id))
        column = "customer_id" if level == CUSTOMER else "reseller_id"
        while True:
            sql = (
                f"SELECT MIN(connect_time) AS first FROM billing_xdrs WHERE {column} = %s"
                " AND level = %s AND connect_time < %s"
            )
            params: list[Any] = [str(party_id), level, iso(moment)]
            if cursor is not None:
                sql += " AND connect_time >= %s"
                params.append(iso(cursor))
            with self.db.transaction(readonly=True) as tx:  # only to pick candidates
                row = tx.fetchone(sql, params)
            if row is None or row["first"] is None:
                return
            period = periods.current(
                party.schedule, datetime.fromisoformat(row["first"]), party.time_zone
            )
            if period.end > moment:
                return
            yield period
            cursor = period.end

    def _candidates(self, catalogue: Catalogue) -> list[tuple[str, UUID, Party]]:
        with self.db.transaction(readonly=True) as tx:  # resellers billed, configured or not
            rows = tx.fetchall(
                "SELECT DISTINCT reseller_id FROM billing_xdrs WHERE level = %s"
                " AND reseller_id IS NOT NULL",
                (RESELLER,),
            )
        resellers = {UUID(r["reseller_id"]) for r in rows} | set(catalogue.resellers)
        return [(CUSTOMER, cid, party) for cid, party in catalogue.customers.items()] + [
            (RESELLER, rid, catalogue.resellers.get(rid, Party())) for rid in sorted(resellers)
        ]

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
        level: str = CUSTOMER,
    ) -> Replayed:
        """Rebuild the period's xDRs and invoice (a customer's, or at `level` reseller a
        reseller's) from the log up to the position the issued invoice (version N, default
        the latest) recorded; never reads a read model."""
        issued = self._issued(customer_id, period_id, version, level)
        position = issued.position
        catalogue = self.rater.catalogue_at(position)
        period = periods.Period(period_id, "", "UTC", issued.start, issued.end)
        xdrs = self.xdrs_of(customer_id, period, position, issued.reprocess_id, level)
        tax = Decimal(issued.totals["tax_percent"])
        content = self._content(catalogue, customer_id, xdrs, tax, level)
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

    def _issued(
        self, customer_id: UUID, period_id: str, version: int | None, level: str = CUSTOMER
    ) -> Any:
        """Version N of the invoice, from the event store (the latest when N is None)."""
        kind: type[Any] = Invoice if level == CUSTOMER else ResellerInvoice
        make_id = invoices.invoice_id if level == CUSTOMER else invoices.reseller_invoice_id
        if version is not None:
            return self.service.load(make_id(customer_id, period_id, version), kind)
        found: Any = None
        number = 1
        while True:
            try:
                found = self.service.load(make_id(customer_id, period_id, number), kind)
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

    def _current(self, job: Any) -> list[tuple[str, UUID]]:
        """The period's issued invoices, customers' and (without a customer) resellers'
        (the read model only picks which to load; each is loaded from the store, and a
        stale pick is refused when it is voided)."""
        sql = "SELECT id, level FROM billing_invoices WHERE period = %s AND status = 'issued'"
        params: list[Any] = [job.period]
        if job.customer_id is not None:
            sql += " AND customer_id = %s"
            params.append(str(job.customer_id))
        if getattr(job, "reseller_id", None) is not None:
            sql += " AND level = %s AND reseller_id = %s"
            params.extend([RESELLER, str(job.reseller_id)])
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(sql + " ORDER BY level, customer_id, reseller_id", params)
        return [(r["level"], UUID(r["id"])) for r in rows]

    def _reprocess(
        self, ctx: CommandContext, job: Any, progress: Callable[[int, int], None] | None
    ) -> list[dict[str, Any]]:
        current: list[tuple[str, Any]] = [
            (level, self.service.load(i, Invoice if level == CUSTOMER else ResellerInvoice))
            for level, i in self._current(job)
        ]
        if not current:
            return []  # nothing issued in that period: nothing to read
        self.rater.catch_up()
        position = self.head()
        catalogue = self.rater.catalogue_at(position, counted=True)  # legs are rated again
        results = []
        windows: dict[str, dict[UUID, periods.Period]] = {}
        for level, old in current:
            windows.setdefault(level, {})[_billed(old, level)] = periods.Period(
                old.period, "", "UTC", old.start, old.end
            )
        all_xdrs = {lvl: self.xdrs_in(w, position, level=lvl) for lvl, w in windows.items()}
        all_legs = {lvl: self.legs_in(w, position, lvl) for lvl, w in windows.items()}
        for done, (level, old) in enumerate(current, 1):
            party = _billed(old, level)
            xdrs = all_xdrs[level][party]
            changes: list[tuple[UUID, dict[str, Any], dict[str, Any]]] = []
            priced = dict(xdrs)  # xDRs with no finished leg (subscription fees) stay as they are
            for leg in all_legs[level][party]:
                before = xdrs.get(leg.leg_id)
                if before is None:
                    continue  # not rated yet (the rater rates it against this catalogue)
                (after,) = [x for x in catalogue.rate(leg) if x["level"] == level]
                rule = catalogue.class_of(party) if level == CUSTOMER else DEFAULT_CLASS
                change = invoices.xdr_change(_plain(before), _plain(after), rule)
                if change is not None:
                    changes.append((before["id"], after, change))
                    priced[leg.leg_id] = {**before, **after}
            ordered = sorted(priced.values(), key=lambda x: (x["connect_time"], str(x["leg_id"])))
            tax = Decimal(old.totals["tax_percent"])
            content = self._content(catalogue, party, ordered, tax, level)
            if changes or invoices.content_hash(content) != old.content_hash:
                new_id = self.service.reissue(
                    ctx, old.id, content, position, changes, job.reason, job.id, level == RESELLER
                )
                results.append(
                    {
                        "level": level,
                        "customer_id": str(old.customer_id) if level == CUSTOMER else None,
                        "reseller_id": str(old.reseller_id) if old.reseller_id else None,
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
