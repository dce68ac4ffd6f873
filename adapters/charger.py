"""The charger: follows the clock and appends each subscription's due charges and credits
as xDRs (`billing.Leg.Rated` with service "subscription" or "credit"), through the same
path as calls, so an invoice that sums a period's xDRs includes them.

Each charge's leg id is `uuid5(subscription, kind and local period start)` and its xDR id
`uuid5(leg id, level)`: a charge made twice (two chargers, a restart) is an integrity
conflict, left as it is. What is due is computed by `domain.billing.fees` from the
subscriptions read model; charges already shown in `billing_xdrs` are not tried again, but
reconciled: when what is due differs from what was charged under that key (a read model
that lagged a fee change), a fix for the difference is appended (`fees.fixes`). A charge
whose time is in a period already closed for the party it bills is posted now, into the
open period ("late: ...").
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from adapters.observability import FailureLog
from adapters.sql import Database
from domain.billing import fees
from domain.billing.application import BillingService
from domain.billing.rounding import DEFAULT_METHOD, Rounding, RoundingRule
from domain.billing.subscriptions import RESELLER_LEVEL
from domain.billing.xdrs import CUSTOMER, RATED, RESELLER
from domain.shared.actor import Actor, CommandContext
from domain.shared.aggregate import iso
from domain.shared.clock import SYSTEM_CLOCK, Clock
from projections.subscriptions import SubscriptionQueries, SubscriptionsProjection

log = logging.getLogger(__name__)
CHARGER = Actor.system("billing-charger")
#: Ended subscriptions are still looked at this long (a refund, the last credits).
LOOKBACK = timedelta(days=40)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Charger:
    """Makes the charges that are due; see the module docstring."""

    def __init__(
        self,
        service: BillingService,
        db: Database,
        clock: Clock = SYSTEM_CLOCK,
        settle_seconds: float = 5.0,
    ) -> None:
        self.service = service
        self.db = db
        self.clock = clock
        self.settle_seconds = settle_seconds
        self.queries = SubscriptionQueries(db)
        self.failures = FailureLog(log, "the billing charger")

    def charge(self) -> int:
        """Append every charge due by now; returns how many were new."""
        self._settle()
        now = self.clock.now()
        made: list[tuple[dict[str, Any], CommandContext]] = []
        context = CommandContext(CHARGER)
        for row in self.queries.running(iso(now - LOOKBACK)):
            term = self._term(row)
            if term is None:
                continue
            outages = [
                fees.Outage(o["condition"], _time(o["start"]), _time(o["end_at"]))  # type: ignore[arg-type]
                for o in self.queries.outages(row["account_id"], row["customer_id"])
            ]
            rule = self._rule(row)
            charges = fees.due(term, now, rule, outages)
            level = self._level(row)
            legs = {c.leg_id(term.id): c for c in charges}
            charged, methods, links = self._charged_so_far(term.id, charges, level)
            for charge in charges:
                if charge.key in charged:
                    legs.pop(charge.leg_id(term.id))
            # a charge made under another rounding method (the class was edited since) is
            # compared with what it is due under that method: a rounding fix re-rounds none
            due = {c.key: c for c in charges}
            for method in set(methods.values()) - {rule.method.value}:
                before = RoundingRule(Rounding(method), rule.places)
                for charge in fees.due(term, now, before, outages):
                    if methods.get(charge.key) == method:
                        due[charge.key] = charge
            for fix in fees.fixes(list(due.values()), charged, int(row["precision"]), links):
                legs[fix.leg_id(term.id)] = fix
            made += [
                (self._xdr(row, term, leg, self._late(row, charge, now)), context)
                for leg, charge in legs.items()
            ]
        return self.service.record_xdrs(made) if made else 0

    def run(self, stop: threading.Event, poll_seconds: float = 30.0) -> None:
        """Charge until `stop` is set; a failing round is tried again, never skipped."""
        while not stop.is_set():
            try:
                self.charge()
            except Exception as error:
                self.failures.failed("charging subscriptions", error)
            stop.wait(poll_seconds)

    # -- helpers -------------------------------------------------------------------------
    def _settle(self) -> None:
        """Wait, bounded, until the subscriptions read model has every event appended
        before this round, so a fee change just made is seen; past the bound, charge
        anyway (a fee charged from a stale row is fixed in a later round: reconciling)."""
        head = self.service.recorder.max_notification_id() or 0
        deadline = time.monotonic() + self.settle_seconds
        while (shown := self._projected()) < head:
            if time.monotonic() >= deadline:
                log.warning(
                    "the subscriptions read model is at %d, the log at %d: charging from"
                    " what it shows (reconciling fixes any fee it had not seen)",
                    shown,
                    head,
                )
                return
            time.sleep(0.05)

    def _projected(self) -> int:
        with self.db.transaction(readonly=True) as tx:
            row = tx.fetchone(
                "SELECT position FROM projection_state WHERE name = %s",
                (SubscriptionsProjection.name,),
            )
        return int(row["position"]) if row else 0

    def _term(self, row: dict[str, Any]) -> fees.Term | None:
        start = datetime.fromisoformat(row["start"])
        if row["activation"] == fees.AT_FIRST_USAGE:
            first = self._first_usage(row["account_id"], row["start"])
            if first is None:
                return None
            start = first
        created, history = self._history(row)
        plan = fees.Plan(
            fee=created,
            period=row["period"],
            charged=row["charged"],
            prorate=bool(row["prorate"]),
            activation=row["activation"],
            precision=int(row["precision"]),
            credit_conditions=tuple(json.loads(row["credit_conditions"])),
            prepaid_months=int(row["prepaid_months"]),
        )
        ended = _time(row["ended_at"])
        if ended is not None and ended <= start:
            return None
        return fees.Term(UUID(row["id"]), plan, row["zone"], start, ended, None, history)

    def _history(self, row: dict[str, Any]) -> tuple[Decimal, tuple[fees.FeeChange, ...]]:
        """The plan's fee as created, and every fee change of the subscription in time
        order: the plan's fee changes (from their effective time) and the subscription's
        adjustments (from when they were made); changes at one moment in log order, so a
        change recorded later never alters a correction already made for an earlier one."""
        created, changes = Decimal(row["fee"]), []
        for found in self.queries.fee_history(row["plan_id"], row["id"]):
            if found["kind"] == "fee" and found["at"] is None:
                created = Decimal(found["fee"])
                continue
            at = datetime.fromisoformat(found["at"])
            if found["kind"] == "fee":
                change = fees.FeeChange(
                    at, fee=Decimal(found["fee"]), key=f"plan{found['version']}"
                )
            else:
                kind, value = found["adjustment_kind"], found["adjustment_value"]
                change = fees.FeeChange(
                    at,
                    adjustment=fees.Adjustment(kind, Decimal(value)) if kind else None,
                    adjusts=True,
                    key=f"sub{found['version']}",
                )
            changes.append((int(found["position"]), change))
        changes.sort(key=lambda pair: (pair[1].at, pair[0]))
        return created, tuple(change for _position, change in changes)

    def _first_usage(self, account_id: str, since: str) -> datetime | None:
        with self.db.transaction(readonly=True) as tx:
            found = tx.fetchone(
                "SELECT MIN(connect_time) AS first FROM billing_xdrs WHERE account_id = %s"
                " AND level = 'customer' AND service NOT IN ('subscription', 'credit')"
                " AND connect_time >= %s",
                (account_id, since),
            )
        return _time(found["first"]) if found and found["first"] else None

    def _rule(self, row: dict[str, Any]) -> RoundingRule:
        method = DEFAULT_METHOD
        if row["level"] != RESELLER_LEVEL:
            with self.db.transaction(readonly=True) as tx:
                found = tx.fetchone(
                    "SELECT c.rounding FROM billing_customers b JOIN billing_classes c"
                    " ON c.id = b.customer_class_id WHERE b.customer_id = %s",
                    (row["customer_id"],),
                )
            if found:
                method = Rounding(found["rounding"])
        return RoundingRule(method, int(row["precision"]))

    @staticmethod
    def _level(row: dict[str, Any]) -> str:
        return RESELLER if row["level"] == RESELLER_LEVEL else CUSTOMER

    def _amounts(self, leg_ids: list[UUID], level: str) -> dict[UUID, tuple[Decimal, str]]:
        """The amount and rounding method of each of these legs' xDRs at `level` that
        `billing_xdrs` shows."""
        if not leg_ids:
            return {}
        marks = ", ".join(["%s"] * len(leg_ids))
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(
                "SELECT leg_id, amount, rounding FROM billing_xdrs"
                f" WHERE level = %s AND leg_id IN ({marks})",
                [level, *(str(leg) for leg in leg_ids)],
            )
        return {UUID(r["leg_id"]): (Decimal(r["amount"] or 0), r["rounding"]) for r in rows}

    def _charged_so_far(
        self, subscription_id: UUID, charges: list[fees.Charge], level: str
    ) -> tuple[dict[str, Decimal], dict[str, str], dict[str, int]]:
        """For each charge already charged, by key: its xDR's amount plus its fixes'
        (following the chain `fees.fix_key` names, one query per link, usually none), the
        rounding method it was charged with, and how many fixes it has. Each link has the
        next index, so the walk ends whatever totals the fixes made."""
        keys = {c.leg_id(subscription_id): c.key for c in charges}
        first = self._amounts(list(keys), level)
        charged = {keys[leg]: amount for leg, (amount, _method) in first.items()}
        methods = {keys[leg]: method for leg, (_amount, method) in first.items()}
        links = dict.fromkeys(charged, 0)
        pending = set(charged)
        while pending:
            wanted = {
                fees.leg_id(subscription_id, fees.fix_key(key, links[key] + 1, charged[key])): key
                for key in pending
            }
            found = self._amounts(list(wanted), level)
            pending = set()
            for leg, (amount, _method) in found.items():
                key = wanted[leg]
                charged[key] += amount
                links[key] += 1
                pending.add(key)
        return charged, methods, links

    def _late(self, row: dict[str, Any], charge: fees.Charge, now: datetime) -> fees.Charge:
        """A charge whose time falls in a period already closed for the party it bills (the
        customer; the reseller for reseller-level subscriptions) is posted now, into the
        open period, its detail naming the day it belongs to."""
        if row["level"] == RESELLER_LEVEL:
            reseller = row["reseller_id"]
            closed = bool(reseller) and (
                self.service.reseller_period_closed(UUID(reseller), charge.start) is not None
            )
        else:
            closed = self.service.period_closed(UUID(row["customer_id"]), charge.start)
        if not closed or now <= charge.start:
            return charge
        kind = "credit" if charge.service == fees.CREDIT else "charge"
        belongs = charge.start.astimezone(ZoneInfo(row["zone"])).date().isoformat()
        return replace(
            charge,
            start=now,
            end=max(now, charge.end),
            detail=f"late: {kind} for {belongs}: {charge.detail}",
        )

    def _xdr(
        self, row: dict[str, Any], term: fees.Term, leg_id: UUID, charge: fees.Charge
    ) -> dict[str, Any]:
        adjustment = charge.adjustment
        return {
            "leg_id": leg_id,
            "level": self._level(row),
            "account_id": UUID(row["account_id"]),
            "customer_id": UUID(row["customer_id"]),
            "reseller_id": UUID(row["reseller_id"]) if row["reseller_id"] else None,
            "service": charge.service,
            "direction": "outgoing",
            "access_code": "outgoing",
            "cli": "",
            "cld": "",
            "connect_time": charge.start,
            "disconnect_time": charge.end,
            "duration_seconds": 0,
            "charged_seconds": None,
            "quantity": Decimal(charge.days),
            "unit": "day",
            "status": RATED,
            "reason": None,
            "tariff_id": None,
            "rate_prefix": None,
            "rate": {
                "subscription_id": row["id"],
                "plan_id": row["plan_id"],
                "fee": str(charge.plan_fee) if charge.plan_fee is not None else None,
                "fee_adjusted": str(charge.fee) if charge.fee is not None else None,
                "adjustment": f"{adjustment.kind} {adjustment.value}" if adjustment else None,
                "days": str(charge.days),
                "period_days": str(charge.period_days),
                "detail": charge.detail,
            },
            "period": None,
            "amount": charge.amount,
            "currency": row["currency"],
            "rounding": self._rule(row).method.value,
            "precision": int(row["precision"]),
            "tracking_id": None,
            "previous_tracking_id": None,
        }
