"""Directory read models: resellers, customers and accounts, as lists users can filter."""

from __future__ import annotations

from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any

from adapters.sql import Database, Row, Transaction
from domain.directory.access import Scope
from domain.directory.aggregates import Account, Customer, Reseller
from domain.shared.aggregate import SwitchlogAggregate, event_type, iso, plain
from projections.base import Projection

_TABLES = {
    "directory.Reseller": "resellers",
    "directory.Customer": "customers",
    "directory.Account": "accounts",
}
_COLUMNS = {
    "resellers": ("name", "login", "status"),
    "customers": ("name", "currency", "time_zone", "reseller_id", "login", "status"),
    "accounts": ("customer_id", "reseller_id", "login", "status"),
}


def _ddl(table: str, extra_indexes: Sequence[str] = ()) -> list[str]:
    columns = ", ".join(f"{c} TEXT" for c in _COLUMNS[table])
    statements = [
        f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, {columns},"
        " version BIGINT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {table}_name ON {table} ({_COLUMNS[table][0]})",
    ]
    statements += [
        f"CREATE INDEX IF NOT EXISTS {table}_{c} ON {table} ({c})" for c in extra_indexes
    ]
    return statements


class DirectoryProjection(Projection):
    """One row per reseller, customer and account, at its latest version."""

    name = "directory"
    tables = ("resellers", "customers", "accounts")
    schema = (
        *_ddl("resellers"),
        *_ddl("customers", ["reseller_id"]),
        *_ddl("accounts", ["reseller_id", "login"]),
    )

    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Events of other aggregates leave the directory unchanged."""

    @apply.register
    def _reseller_created(self, event: Reseller.Created, tx: Transaction, position: int) -> None:
        self._insert(tx, "resellers", event, name=event.name, login=event.login, status="open")

    @apply.register
    def _customer_created(self, event: Customer.Created, tx: Transaction, position: int) -> None:
        self._insert(
            tx,
            "customers",
            event,
            name=event.name,
            currency=event.currency,
            time_zone=event.time_zone,
            reseller_id=plain(event.reseller_id),
            login=event.login,
            status="open",
        )
        # Accounts projected before their customer (Kafka partitions interleave) catch up here.
        tx.execute(
            "UPDATE accounts SET reseller_id = %s WHERE customer_id = %s",
            (plain(event.reseller_id), str(event.originator_id)),
        )

    @apply.register
    def _account_created(self, event: Account.Created, tx: Transaction, position: int) -> None:
        # Accounts created before v2 did not name the reseller: the customer row does.
        owner = (
            {"reseller_id": plain(event.reseller_id)}
            if event.reseller_id
            else tx.fetchone(
                "SELECT reseller_id FROM customers WHERE id = %s", (str(event.customer_id),)
            )
        )
        self._insert(
            tx,
            "accounts",
            event,
            customer_id=str(event.customer_id),
            reseller_id=owner["reseller_id"] if owner else None,
            login=event.login,
            status="open",
        )

    @apply.register
    def _changed(self, event: SwitchlogAggregate.Changed, tx: Transaction, position: int) -> None:
        """Every intent-named change (and the older generic `Updated`) of a directory row."""
        table = _TABLES.get(event_type(event).rsplit(".", 1)[0])
        if table is None:
            return
        self._update(tx, table, event)
        if table == "customers" and "reseller_id" in event.changes:
            tx.execute(
                "UPDATE accounts SET reseller_id = %s WHERE customer_id = %s",
                (plain(event.changes["reseller_id"][1]), str(event.originator_id)),
            )

    @staticmethod
    def _insert(tx: Transaction, table: str, event: Any, **values: Any) -> None:
        names = ["id", *values, "version", "created_at", "updated_at"]
        time = iso(event.timestamp)
        row = [str(event.originator_id), *values.values(), event.originator_version, time, time]
        tx.execute(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
            " ON CONFLICT (id) DO NOTHING",
            row,
        )

    @staticmethod
    def _update(tx: Transaction, table: str, event: Any) -> None:
        changed = {
            name: plain(after)
            for name, (_before, after) in event.changes.items()
            if name in _COLUMNS[table]
        }
        sets = "".join(f"{name} = %s, " for name in changed)
        # The version guard makes a re-delivered event a no-op.
        tx.execute(
            f"UPDATE {table} SET {sets}version = %s, updated_at = %s"
            " WHERE id = %s AND version < %s",
            [
                *changed.values(),
                event.originator_version,
                iso(event.timestamp),
                str(event.originator_id),
                event.originator_version,
            ],
        )


class DirectoryQueries:
    """Filtered, paginated reads of the directory, restricted to what a scope may see."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def list(
        self,
        table: str,
        scope: Scope,
        filters: dict[str, Any],
        limit: int,
        offset: int,
    ) -> tuple[list[Row], int | None]:
        where, params = self._scope_clause(table, scope)
        for column, value in filters.items():
            if value is None:
                continue
            if column not in _COLUMNS[table]:
                raise ValueError(f"cannot filter {table} by {column}")
            where.append(f"{column} = %s")
            params.append(plain(value))
        sql = f"SELECT * FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, id LIMIT %s OFFSET %s"
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(sql, [*params, limit + 1, offset])
        more = len(rows) > limit
        return rows[:limit], (offset + limit if more else None)

    def get(self, table: str, scope: Scope, row_id: str) -> Row | None:
        where, params = self._scope_clause(table, scope)
        sql = f"SELECT * FROM {table} WHERE " + " AND ".join(["id = %s", *where])
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchone(sql, [row_id, *params])

    @staticmethod
    def _scope_clause(table: str, scope: Scope) -> tuple[list[str], list[Any]]:
        """The SQL twin of `Scope.sees_*`: what a realm may see, as a WHERE clause."""
        if scope.unrestricted:
            return [], []
        terms: list[str] = []
        params: list[Any] = []
        if table == "resellers":
            terms.append("id = %s")
            params.append(str(scope.reseller_id))
        else:
            if scope.reseller_id is not None:
                terms.append("reseller_id = %s")
                params.append(str(scope.reseller_id))
            if scope.customer_id is not None:
                terms.append("id = %s" if table == "customers" else "customer_id = %s")
                params.append(str(scope.customer_id))
            if scope.account_id is not None and table == "accounts":
                terms.append("id = %s")
                params.append(str(scope.account_id))
        return ["(" + " OR ".join(terms or ["1 = 0"]) + ")"], params
