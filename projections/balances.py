"""Customers' funds as read models: payment terms and payments (`billing_funds`). A
customer's balance adds them to its charges (`billing_balances`, the invoices projection)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import singledispatchmethod
from typing import Any

from adapters.sql import Database, Row, Transaction
from domain.billing.balances import POSTPAID, Funds, Payment, PaymentTerms
from domain.shared.aggregate import iso, plain
from projections.base import Projection
from projections.invoices import InvoiceQueries


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


class BalancesProjection(Projection):
    """Idempotent: terms by version, payments by id."""

    name = "billing_funds"
    version = 1
    tables = ("billing_payment_terms", "billing_payments")
    schema = (
        "CREATE TABLE IF NOT EXISTS billing_payment_terms (customer_id TEXT PRIMARY KEY,"
        " mode TEXT NOT NULL, credit_limit TEXT, updated_at TEXT NOT NULL,"
        " version BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS billing_payments (id TEXT PRIMARY KEY,"
        " customer_id TEXT NOT NULL, reseller_id TEXT, kind TEXT NOT NULL, amount TEXT NOT NULL,"
        " currency TEXT NOT NULL, reference TEXT NOT NULL, note TEXT, actor TEXT NOT NULL,"
        " received_at TEXT NOT NULL, position BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS billing_payments_customer"
        " ON billing_payments (customer_id, position)",
    )

    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Other events leave these read models unchanged."""

    @apply.register
    def _agreed(self, event: PaymentTerms.Agreed, tx: Transaction, position: int) -> None:
        self._terms(tx, event, str(event.customer_id))

    @apply.register
    def _revised(self, event: PaymentTerms.Revised, tx: Transaction, position: int) -> None:
        self._terms(tx, event, str(event.owners[0].customer_id))

    @staticmethod
    def _terms(tx: Transaction, event: Any, customer_id: str) -> None:
        tx.execute(
            "INSERT INTO billing_payment_terms (customer_id, mode, credit_limit, updated_at,"
            " version) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (customer_id) DO UPDATE SET"
            " mode = excluded.mode, credit_limit = excluded.credit_limit,"
            " updated_at = excluded.updated_at, version = excluded.version"
            " WHERE billing_payment_terms.version < excluded.version",
            (
                customer_id,
                event.mode,
                _money(event.credit_limit),
                iso(event.timestamp),
                event.originator_version,
            ),
        )

    @apply.register
    def _received(self, event: Payment.Received, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO billing_payments (id, customer_id, reseller_id, kind, amount, currency,"
            " reference, note, actor, received_at, position) VALUES (%s, %s, %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                str(event.customer_id),
                plain(event.reseller_id),
                event.kind,
                _money(event.amount),
                event.currency,
                event.reference,
                event.note,
                event.actor.id,
                iso(event.timestamp),
                position,
            ),
        )


class BalanceQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def terms_of(self, customer_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Each customer's terms (postpaid without a limit when never set)."""
        if not customer_ids:
            return {}
        marks = ", ".join(["%s"] * len(customer_ids))
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(
                "SELECT customer_id, mode, credit_limit FROM billing_payment_terms"
                f" WHERE customer_id IN ({marks})",
                list(customer_ids),
            )
        found = {
            r["customer_id"]: {"mode": r["mode"], "credit_limit": r["credit_limit"]} for r in rows
        }
        default = {"mode": POSTPAID, "credit_limit": None}
        return {c: found.get(c, default) for c in customer_ids}

    def payments(self, customer_id: str, limit: int, offset: int) -> tuple[list[Row], int | None]:
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(
                "SELECT * FROM billing_payments WHERE customer_id = %s ORDER BY position, id"
                " LIMIT %s OFFSET %s",
                (customer_id, limit + 1, offset),
            )
        more = len(rows) > limit
        return rows[:limit], (offset + limit if more else None)

    def payment(self, payment_id: str) -> Row | None:
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchone("SELECT * FROM billing_payments WHERE id = %s", (payment_id,))

    def funds(self, customer_id: str) -> tuple[Funds, Row | None, int]:
        """The customer's funds from the read models: its terms, the sum of its payments
        (exact, in Decimal), its charges; with the charges' row and the payment count."""
        with self.db.transaction(readonly=True) as tx:
            terms = tx.fetchone(
                "SELECT mode, credit_limit FROM billing_payment_terms WHERE customer_id = %s",
                (customer_id,),
            )
            paid = tx.fetchall(
                "SELECT amount FROM billing_payments WHERE customer_id = %s", (customer_id,)
            )
        charges = InvoiceQueries(self.db).balance(customer_id)
        limit = terms["credit_limit"] if terms else None
        funds = Funds(
            mode=terms["mode"] if terms else POSTPAID,
            credit_limit=Decimal(limit) if limit is not None else None,
            payments=sum((Decimal(r["amount"]) for r in paid), Decimal(0)),
            charges=Decimal(charges["charges"]) if charges else Decimal(0),
        )
        return funds, charges, len(paid)
