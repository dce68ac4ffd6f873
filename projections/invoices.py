"""Billing part 2's read models: invoices (every version), closed periods (the usage gate
asks them), reprocess jobs, and customers' balances (the sum of their charges)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import singledispatchmethod
from typing import Any

from adapters.sql import Database, Row, Transaction
from domain.billing import periods
from domain.billing.aggregates import CustomerBillingCycle
from domain.billing.invoices import (
    VOID,
    BillingPeriod,
    Invoice,
    ReprocessJob,
    ResellerBillingPeriod,
    ResellerInvoice,
)
from domain.billing.xdrs import CUSTOMER, RATED, RESELLER, Leg
from domain.directory.access import Scope
from domain.shared.aggregate import iso, plain
from projections.base import Projection


class InvoicesProjection(Projection):
    """Every handler is idempotent (keyed rows, versions, positions)."""

    name = "billing_invoices"
    version = 3  # 2: resellers' invoices and periods (level), customers' kinds; 3: jobs' reseller
    tables = (
        "billing_invoices",
        "billing_periods",
        "billing_reprocess_jobs",
        "billing_balances",
        "billing_cycles",
    )
    schema = (
        "CREATE TABLE IF NOT EXISTS billing_invoices (id TEXT PRIMARY KEY, level TEXT NOT NULL,"
        " customer_id TEXT, reseller_id TEXT, period TEXT NOT NULL,"
        " version_number BIGINT NOT NULL, status TEXT NOT NULL, total TEXT NOT NULL,"
        " currency TEXT, content_hash TEXT NOT NULL, lines TEXT NOT NULL, totals TEXT NOT NULL,"
        " changes TEXT NOT NULL, replaces TEXT, replaced_by TEXT, reason TEXT,"
        " start_at TEXT NOT NULL, end_at TEXT NOT NULL, position BIGINT NOT NULL,"
        " issued_at TEXT NOT NULL, version BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS billing_invoices_customer"
        " ON billing_invoices (customer_id, period, version_number)",
        "CREATE INDEX IF NOT EXISTS billing_invoices_reseller"
        " ON billing_invoices (reseller_id, level, period)",
        "CREATE INDEX IF NOT EXISTS billing_invoices_period ON billing_invoices (period, status)",
        "CREATE TABLE IF NOT EXISTS billing_periods (id TEXT PRIMARY KEY, level TEXT NOT NULL,"
        " customer_id TEXT, reseller_id TEXT, period TEXT NOT NULL, start_at TEXT NOT NULL,"
        " end_at TEXT NOT NULL, invoice_id TEXT NOT NULL, position BIGINT NOT NULL,"
        " closed_at TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS billing_periods_customer"
        " ON billing_periods (customer_id, start_at)",
        "CREATE INDEX IF NOT EXISTS billing_periods_reseller"
        " ON billing_periods (reseller_id, level, start_at)",
        "CREATE TABLE IF NOT EXISTS billing_reprocess_jobs (id TEXT PRIMARY KEY,"
        " period TEXT NOT NULL, customer_id TEXT, reseller_id TEXT, reason TEXT NOT NULL,"
        " status TEXT NOT NULL,"
        " invoices TEXT NOT NULL, error TEXT, requested_at TEXT NOT NULL,"
        " updated_at TEXT NOT NULL, version BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS billing_balances (customer_id TEXT PRIMARY KEY,"
        " currency TEXT, charges TEXT NOT NULL, xdrs BIGINT NOT NULL,"
        " position BIGINT NOT NULL, updated_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS billing_cycles (id TEXT PRIMARY KEY,"
        " customer_id TEXT NOT NULL, billing_period TEXT NOT NULL, schedule TEXT NOT NULL,"
        " version BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS billing_cycles_customer ON billing_cycles (customer_id)",
    )

    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Other events leave these read models unchanged."""

    @apply.register
    def _issued(self, event: Invoice.Issued, tx: Transaction, position: int) -> None:
        self._issue(tx, event, CUSTOMER, str(event.customer_id))

    @apply.register
    def _reseller_issued(
        self, event: ResellerInvoice.Issued, tx: Transaction, position: int
    ) -> None:
        self._issue(tx, event, RESELLER, None)

    @staticmethod
    def _issue(tx: Transaction, event: Any, level: str, customer_id: str | None) -> None:
        tx.execute(
            "INSERT INTO billing_invoices (id, level, customer_id, reseller_id, period,"
            " version_number, status, total, currency, content_hash, lines, totals, changes,"
            " replaces, replaced_by, reason, start_at, end_at, position, issued_at, version)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'issued', %s, %s, %s, %s, %s, %s, %s, NULL, %s,"
            " %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                level,
                customer_id,
                plain(event.reseller_id),
                event.period,
                event.version_number,
                event.totals["total"],
                event.totals.get("currency"),
                event.content_hash,
                json.dumps(event.lines),
                json.dumps(event.totals),
                json.dumps(plain(event.xdr_changes or [])),
                plain(event.replaces),
                event.reason,
                iso(event.start),
                iso(event.end),
                event.position,
                iso(event.timestamp),
                event.originator_version,
            ),
        )

    @apply.register
    def _voided(self, event: Invoice.Voided, tx: Transaction, position: int) -> None:
        self._void(tx, event)

    @apply.register
    def _reseller_voided(
        self, event: ResellerInvoice.Voided, tx: Transaction, position: int
    ) -> None:
        self._void(tx, event)

    @staticmethod
    def _void(tx: Transaction, event: Any) -> None:
        tx.execute(
            "UPDATE billing_invoices SET status = %s, replaced_by = %s, version = %s"
            " WHERE id = %s AND version < %s",
            (
                VOID,
                str(event.replaced_by),
                event.originator_version,
                str(event.originator_id),
                event.originator_version,
            ),
        )

    @apply.register
    def _closed(self, event: BillingPeriod.Closed, tx: Transaction, position: int) -> None:
        self._close(tx, event, CUSTOMER, str(event.customer_id))

    @apply.register
    def _reseller_closed(
        self, event: ResellerBillingPeriod.Closed, tx: Transaction, position: int
    ) -> None:
        self._close(tx, event, RESELLER, None)

    @staticmethod
    def _close(tx: Transaction, event: Any, level: str, customer_id: str | None) -> None:
        tx.execute(
            "INSERT INTO billing_periods (id, level, customer_id, reseller_id, period,"
            " start_at, end_at, invoice_id, position, closed_at) VALUES (%s, %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                level,
                customer_id,
                plain(event.reseller_id),
                event.period,
                iso(event.start),
                iso(event.end),
                str(event.invoice_id),
                event.position,
                iso(event.timestamp),
            ),
        )

    # -- customers' period kinds (the GET of a customer shows the latest one chosen) ------
    @apply.register
    def _cycle_chosen(
        self, event: CustomerBillingCycle.Chosen, tx: Transaction, position: int
    ) -> None:
        schedule = periods.change(
            periods.DEFAULT_SCHEDULE, event.billing_period, event.effective_from
        )
        tx.execute(
            "INSERT INTO billing_cycles (id, customer_id, billing_period, schedule, version)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                str(event.customer_id),
                event.billing_period,
                json.dumps(_schedule(schedule)),
                event.originator_version,
            ),
        )

    @apply.register
    def _rescheduled(
        self, event: CustomerBillingCycle.Rescheduled, tx: Transaction, position: int
    ) -> None:
        row = tx.fetchone(
            "SELECT schedule, version FROM billing_cycles WHERE id = %s",
            (str(event.originator_id),),
        )
        if row is None or int(row["version"]) >= event.originator_version:
            return  # delivered again
        schedule = periods.change(
            _parse_schedule(row["schedule"]), event.billing_period, event.effective_from
        )
        tx.execute(
            "UPDATE billing_cycles SET billing_period = %s, schedule = %s, version = %s"
            " WHERE id = %s",
            (
                event.billing_period,
                json.dumps(_schedule(schedule)),
                event.originator_version,
                str(event.originator_id),
            ),
        )

    @apply.register
    def _requested(self, event: ReprocessJob.Requested, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO billing_reprocess_jobs (id, period, customer_id, reseller_id, reason,"
            " status, invoices, error, requested_at, updated_at, version) VALUES (%s, %s, %s,"
            " %s, %s, 'running', '[]', NULL, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                event.period,
                plain(event.customer_id),
                plain(getattr(event, "reseller_id", None)),
                event.reason,
                iso(event.timestamp),
                iso(event.timestamp),
                event.originator_version,
            ),
        )

    @apply.register
    def _completed(self, event: ReprocessJob.Completed, tx: Transaction, position: int) -> None:
        self._job(tx, event, "completed", json.dumps(plain(event.invoices)), None)

    @apply.register
    def _failed(self, event: ReprocessJob.Failed, tx: Transaction, position: int) -> None:
        self._job(tx, event, "failed", "[]", event.error)

    @staticmethod
    def _job(tx: Transaction, event: Any, status: str, invoices: str, error: str | None) -> None:
        tx.execute(
            "UPDATE billing_reprocess_jobs SET status = %s, invoices = %s, error = %s,"
            " updated_at = %s, version = %s WHERE id = %s AND version < %s",
            (
                status,
                invoices,
                error,
                iso(event.timestamp),
                event.originator_version,
                str(event.originator_id),
                event.originator_version,
            ),
        )

    # -- balances: customer-level charges, each counted once (positions only go up) ------
    @apply.register
    def _charged(self, event: Leg.Rated, tx: Transaction, position: int) -> None:
        if event.level != CUSTOMER or event.status != RATED or event.amount is None:
            return
        self._charge(tx, event, event.amount, 1, position)

    @apply.register
    def _recharged(self, event: Leg.Rerated, tx: Transaction, position: int) -> None:
        if getattr(event, "owners", None) and event.owners[0].customer_id is None:
            return  # a reseller-level xDR: the operator's price to the reseller
        delta = (event.amount or Decimal(0)) - (event.old_amount or Decimal(0))
        self._charge(tx, event, delta, 0, position)

    @staticmethod
    def _charge(tx: Transaction, event: Any, amount: Decimal, count: int, position: int) -> None:
        customer = getattr(event, "customer_id", None) or event.owners[0].customer_id
        row = tx.fetchone(
            "SELECT charges, xdrs, position FROM billing_balances WHERE customer_id = %s",
            (str(customer),),
        )
        if row is not None and int(row["position"]) >= position:
            return  # delivered again
        charges = Decimal(row["charges"]) + amount if row else amount
        xdrs = int(row["xdrs"]) + count if row else count
        tx.execute(
            "INSERT INTO billing_balances (customer_id, currency, charges, xdrs, position,"
            " updated_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (customer_id) DO UPDATE"
            " SET charges = excluded.charges, xdrs = excluded.xdrs,"
            " position = excluded.position, updated_at = excluded.updated_at,"
            " currency = COALESCE(excluded.currency, billing_balances.currency)",
            (
                str(customer),
                getattr(event, "currency", None),
                str(charges),
                xdrs,
                position,
                iso(event.timestamp),
            ),
        )


class InvoiceQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchall(sql, params)

    def invoices(
        self, scope: Scope, filters: dict[str, str | None], limit: int, offset: int
    ) -> tuple[list[Row], int | None]:
        where, params = ["1 = 1"], []
        for column in ("level", "customer_id", "reseller_id", "period", "status"):
            if filters.get(column):
                where.append(f"{column} = %s")
                params.append(filters[column])
        if not scope.unrestricted:
            column, principal = (
                ("reseller_id", scope.reseller_id)
                if scope.reseller_id
                else ("customer_id", scope.customer_id)
            )
            where.append(f"{column} = %s")
            params.append(str(principal))
        rows = self._all(
            f"SELECT * FROM billing_invoices WHERE {' AND '.join(where)}"
            " ORDER BY period, level, customer_id, reseller_id, version_number"
            " LIMIT %s OFFSET %s",
            [*params, limit + 1, offset],
        )
        more = len(rows) > limit
        return [invoice_row(r) for r in rows[:limit]], (offset + limit if more else None)

    def invoice(self, invoice_id: str) -> Row | None:
        rows = self._all("SELECT * FROM billing_invoices WHERE id = %s", (invoice_id,))
        return invoice_row(rows[0]) if rows else None

    def job(self, job_id: str) -> Row | None:
        rows = self._all("SELECT * FROM billing_reprocess_jobs WHERE id = %s", (job_id,))
        if not rows:
            return None
        return {**rows[0], "invoices": json.loads(rows[0]["invoices"])}

    def balance(self, customer_id: str) -> Row | None:
        rows = self._all("SELECT * FROM billing_balances WHERE customer_id = %s", (customer_id,))
        return rows[0] if rows else None

    def period_closed(self, customer_id: str, at: datetime) -> bool:
        moment = iso(at)
        rows = self._all(
            "SELECT 1 AS one FROM billing_periods WHERE customer_id = %s AND level = %s"
            " AND start_at <= %s AND end_at > %s LIMIT 1",
            (customer_id, CUSTOMER, moment, moment),
        )
        return bool(rows)

    def reseller_period_closed(self, reseller_id: str, at: datetime) -> str | None:
        """The reseller's closed period holding that time (its id), if one is."""
        moment = iso(at)
        rows = self._all(
            "SELECT period FROM billing_periods WHERE reseller_id = %s AND level = %s"
            " AND start_at <= %s AND end_at > %s LIMIT 1",
            (reseller_id, RESELLER, moment, moment),
        )
        return str(rows[0]["period"]) if rows else None

    def billing_periods(self, customer_ids: Sequence[str]) -> dict[str, str]:
        """Each customer's period kind as last chosen (monthly when never chosen)."""
        if not customer_ids:
            return {}
        marks = ", ".join(["%s"] * len(customer_ids))
        rows = self._all(
            "SELECT customer_id, billing_period FROM billing_cycles"
            f" WHERE customer_id IN ({marks})",
            list(customer_ids),
        )
        chosen = {r["customer_id"]: r["billing_period"] for r in rows}
        return {c: chosen.get(c, periods.MONTHLY) for c in customer_ids}


def invoice_row(row: Row) -> Row:
    return {
        **row,
        "lines": json.loads(row["lines"]),
        "totals": json.loads(row["totals"]),
        "changes": json.loads(row["changes"]),
    }


def _schedule(schedule: periods.Schedule) -> list[list[str | None]]:
    return [[iso(start) if start else None, kind] for start, kind in schedule]


def _parse_schedule(text: str) -> periods.Schedule:
    return tuple(
        (datetime.fromisoformat(start) if start else None, kind) for start, kind in json.loads(text)
    )
