"""Read models: products, agreements and their usage, extensions and auto attendants with
their DIDs, each account's products and block."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any

from adapters.sql import Database, Row, Transaction
from domain.directory.aggregates import Account
from domain.provisioning.pbx import Agreement, AutoAttendant, Extension, PbxEndpoint, Product
from domain.shared.aggregate import iso, plain
from projections.base import Projection


def projections() -> Sequence[Projection]:
    """This area's projections (provisioning's registration lists them)."""
    return [ExtensionsProjection()]


class ExtensionsProjection(Projection):
    """The catalog, each customer's agreement, its extensions and auto attendants, and
    what each account holds (products, a block)."""

    name = "extensions"
    tables = (
        "products",
        "agreement_products",
        "account_products",
        "pbx_endpoints",
        "account_blocks",
    )
    schema = (
        "CREATE TABLE IF NOT EXISTS products (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " kind TEXT NOT NULL, version BIGINT NOT NULL, created_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS agreement_products (customer_id TEXT NOT NULL,"
        " product_id TEXT NOT NULL, quantity BIGINT NOT NULL,"
        " PRIMARY KEY (customer_id, product_id))",
        "CREATE TABLE IF NOT EXISTS account_products (account_id TEXT NOT NULL,"
        " product_id TEXT NOT NULL, customer_id TEXT NOT NULL,"
        " PRIMARY KEY (account_id, product_id))",
        "CREATE INDEX IF NOT EXISTS account_products_customer"
        " ON account_products (customer_id, product_id)",
        "CREATE TABLE IF NOT EXISTS pbx_endpoints (id TEXT PRIMARY KEY,"
        " customer_id TEXT NOT NULL, reseller_id TEXT, kind TEXT NOT NULL, extension TEXT,"
        " number BIGINT, account_id TEXT NOT NULL, login TEXT NOT NULL, dids TEXT NOT NULL,"
        " status TEXT NOT NULL, version BIGINT NOT NULL, created_at TEXT NOT NULL,"
        " updated_at TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS pbx_endpoints_customer"
        " ON pbx_endpoints (customer_id, created_at)",
        "CREATE TABLE IF NOT EXISTS account_blocks (account_id TEXT PRIMARY KEY,"
        " blocked_by TEXT, version BIGINT NOT NULL)",
    )

    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Other events leave these read models unchanged."""

    @apply.register
    def _product(self, event: Product.Created, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO products VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                event.name,
                event.kind,
                event.originator_version,
                iso(event.timestamp),
            ),
        )

    @apply.register
    def _made(self, event: Agreement.Made, tx: Transaction, position: int) -> None:
        self._quantities(tx, str(event.customer_id), event.quantities)

    @apply.register
    def _revised(self, event: Agreement.Revised, tx: Transaction, position: int) -> None:
        self._quantities(tx, _customer(event), event.changes["quantities"][1])

    @apply.register
    def _assigned(self, event: Agreement.ProductsAssigned, tx: Transaction, position: int) -> None:
        account = str(event.account_id)
        tx.execute("DELETE FROM account_products WHERE account_id = %s", (account,))
        for product in event.products:
            tx.execute(
                "INSERT INTO account_products VALUES (%s, %s, %s)",
                (account, product, _customer(event)),
            )

    @apply.register
    def _extension(self, event: Extension.Added, tx: Transaction, position: int) -> None:
        self._endpoint(tx, event, "extension", extension=event.extension)

    @apply.register
    def _auto_attendant(self, event: AutoAttendant.Added, tx: Transaction, position: int) -> None:
        self._endpoint(tx, event, "auto_attendant", number=event.number)

    @apply.register
    def _renumbered(self, event: Extension.Renumbered, tx: Transaction, position: int) -> None:
        extension, login = event.changes["extension"][1], event.changes["login"][1]
        self._update(tx, event, "extension = %s, login = %s", [extension, login])

    @apply.register
    def _deleted(self, event: PbxEndpoint.Deleted, tx: Transaction, position: int) -> None:
        self._update(tx, event, "status = %s", [event.changes["status"][1]])

    @apply.register
    def _alias_added(self, event: PbxEndpoint.AliasAdded, tx: Transaction, position: int) -> None:
        self._dids(tx, event, lambda dids: [*dids, event.did])

    @apply.register
    def _alias_removed(
        self, event: PbxEndpoint.AliasRemoved, tx: Transaction, position: int
    ) -> None:
        self._dids(tx, event, lambda dids: [d for d in dids if d != event.did])

    @apply.register
    def _blocked(self, event: Account.Blocked, tx: Transaction, position: int) -> None:
        self._block(tx, event, event.changes["blocked_by"][1])

    @apply.register
    def _unblocked(self, event: Account.Unblocked, tx: Transaction, position: int) -> None:
        self._block(tx, event, None)

    # -- writing rows ----------------------------------------------------------------
    @staticmethod
    def _quantities(tx: Transaction, customer: str, quantities: dict[str, int]) -> None:
        tx.execute("DELETE FROM agreement_products WHERE customer_id = %s", (customer,))
        for product, quantity in quantities.items():
            tx.execute(
                "INSERT INTO agreement_products VALUES (%s, %s, %s)", (customer, product, quantity)
            )

    @staticmethod
    def _endpoint(tx: Transaction, event: Any, kind: str, **values: Any) -> None:
        time = iso(event.timestamp)
        tx.execute(
            "INSERT INTO pbx_endpoints VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                str(event.customer_id),
                plain(event.reseller_id),
                kind,
                values.get("extension"),
                values.get("number"),
                str(event.account_id),
                event.login,
                "[]",
                "active",
                event.originator_version,
                time,
                time,
            ),
        )

    @staticmethod
    def _update(tx: Transaction, event: Any, sets: str, params: list[Any]) -> None:
        # The version guard makes a re-delivered event a no-op.
        tx.execute(
            f"UPDATE pbx_endpoints SET {sets}, version = %s, updated_at = %s"
            " WHERE id = %s AND version < %s",
            [
                *params,
                event.originator_version,
                iso(event.timestamp),
                str(event.originator_id),
                event.originator_version,
            ],
        )

    def _dids(self, tx: Transaction, event: Any, change: Any) -> None:
        row = tx.fetchone(
            "SELECT dids FROM pbx_endpoints WHERE id = %s", (str(event.originator_id),)
        )
        if row is not None:
            dids = change(json.loads(row["dids"]))
            self._update(tx, event, "dids = %s", [json.dumps(dids)])

    @staticmethod
    def _block(tx: Transaction, event: Any, blocked_by: str | None) -> None:
        account, version = str(event.originator_id), event.originator_version
        tx.execute(
            "INSERT INTO account_blocks VALUES (%s, %s, %s) ON CONFLICT (account_id) DO UPDATE"
            " SET blocked_by = excluded.blocked_by, version = excluded.version"
            " WHERE account_blocks.version < excluded.version",
            (account, blocked_by, version),
        )


def _customer(event: Any) -> str:
    """The customer an agreement event belongs to (its owner names it)."""
    return str(event.owners[0].customer_id)


class ExtensionQueries:
    """Reads of the catalog, agreements, extensions and accounts' provisioning."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def products(self, limit: int, offset: int) -> tuple[list[Row], int | None]:
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(
                "SELECT * FROM products ORDER BY created_at, id LIMIT %s OFFSET %s",
                (limit + 1, offset),
            )
        return rows[:limit], (offset + limit if len(rows) > limit else None)

    def product(self, product_id: str) -> Row | None:
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchone("SELECT * FROM products WHERE id = %s", (product_id,))

    def agreement(self, customer_id: str) -> list[Row]:
        """Each product of the customer's agreement, with how many accounts use it."""
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchall(
                "SELECT a.product_id, p.name, p.kind, a.quantity,"
                " (SELECT COUNT(*) FROM account_products u WHERE u.customer_id = a.customer_id"
                "  AND u.product_id = a.product_id) AS used"
                " FROM agreement_products a JOIN products p ON p.id = a.product_id"
                " WHERE a.customer_id = %s ORDER BY p.name",
                (customer_id,),
            )

    def endpoints(
        self, customer_id: str, kind: str, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(
                "SELECT * FROM pbx_endpoints WHERE customer_id = %s AND kind = %s"
                " AND status = 'active' ORDER BY created_at, id LIMIT %s OFFSET %s",
                (customer_id, kind, limit + 1, offset),
            )
        more = len(rows) > limit
        return self._with_accounts(rows[:limit]), (offset + limit if more else None)

    def endpoint(self, endpoint_id: str, customer_id: str) -> dict[str, Any] | None:
        with self.db.transaction(readonly=True) as tx:
            row = tx.fetchone(
                "SELECT * FROM pbx_endpoints WHERE id = %s AND customer_id = %s",
                (endpoint_id, customer_id),
            )
        return self._with_accounts([row])[0] if row is not None else None

    def accounts(self, account_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Each account's products (and its main one) and block."""
        if not account_ids:
            return {}
        marks = ", ".join(["%s"] * len(account_ids))
        with self.db.transaction(readonly=True) as tx:
            held = tx.fetchall(
                "SELECT h.account_id, h.product_id, p.kind FROM account_products h"
                f" LEFT JOIN products p ON p.id = h.product_id WHERE h.account_id IN ({marks})"
                " ORDER BY h.product_id",
                list(account_ids),
            )
            blocks = tx.fetchall(
                f"SELECT account_id, blocked_by FROM account_blocks WHERE account_id IN ({marks})",
                list(account_ids),
            )
        found: dict[str, dict[str, Any]] = {
            a: {"products": [], "product_id": None, "blocked": False, "blocked_by": None}
            for a in account_ids
        }
        for row in held:
            entry = found[row["account_id"]]
            entry["products"].append(row["product_id"])
            if row["kind"] == "main":
                entry["product_id"] = row["product_id"]
        for row in blocks:
            found[row["account_id"]].update(
                blocked=row["blocked_by"] is not None, blocked_by=row["blocked_by"]
            )
        return found

    def _with_accounts(self, rows: list[Row]) -> list[dict[str, Any]]:
        extras = self.accounts([r["account_id"] for r in rows])
        return [
            {**row, "dids": json.loads(row["dids"]), **extras[row["account_id"]]} for row in rows
        ]
