"""Provisioning read models: each customer's integer number (shown on the directory's
customer)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import singledispatchmethod

from adapters.sql import Database, Transaction
from domain.provisioning.aggregates import CustomerNumber
from projections.base import Projection


class ProvisioningProjection(Projection):
    """One row per customer that has a number record (legacy E.164 ones show none)."""

    name = "provisioning"
    # v2: the number is the integer i_customer; v1 held an E.164 string.
    version = 2
    tables = ("customer_numbers",)
    schema = (
        "CREATE TABLE IF NOT EXISTS customer_numbers (id TEXT PRIMARY KEY,"
        " customer_id TEXT NOT NULL UNIQUE, number BIGINT UNIQUE, version BIGINT NOT NULL)",
    )

    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Other events leave provisioning's read models unchanged."""

    @apply.register
    def _assigned(self, event: CustomerNumber.Assigned, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO customer_numbers VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                str(event.customer_id),
                event.number,
                event.originator_version,
            ),
        )

    @apply.register
    def _numbered(self, event: CustomerNumber.Numbered, tx: Transaction, position: int) -> None:
        # The version guard makes a re-delivered event a no-op.
        tx.execute(
            "UPDATE customer_numbers SET number = %s, version = %s WHERE id = %s AND version < %s",
            (
                event.changes["number"][1],
                event.originator_version,
                str(event.originator_id),
                event.originator_version,
            ),
        )


class ProvisioningQueries:
    """Numbers of customers, for the directory's customer resource."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def numbers(self, customer_ids: Sequence[str]) -> dict[str, int | None]:
        if not customer_ids:
            return {}
        marks = ", ".join(["%s"] * len(customer_ids))
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(
                f"SELECT customer_id, number FROM customer_numbers WHERE customer_id IN ({marks})",
                list(customer_ids),
            )
        return {r["customer_id"]: _int(r["number"]) for r in rows}


def _int(value: object) -> int | None:
    return int(value) if value is not None else None  # type: ignore[call-overload]
