"""Billing read models: customer classes, tariffs and their rates, what billing attaches
to customers, products and resellers, and the xDRs (`billing.Leg.Rated`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any

from adapters.sql import Database, Row, Transaction
from domain.billing.aggregates import (
    BundlePromotion,
    CustomerBilling,
    CustomerClass,
    ProductBilling,
    ProductBundle,
    ResellerBilling,
    Tariff,
)
from domain.billing.xdrs import CUSTOMER, RERATED_FIELDS, Leg
from domain.directory.access import Scope
from domain.shared.aggregate import iso, plain
from projections.base import Projection

XDR_COLUMNS = (
    "id",
    "leg_id",
    "level",
    "account_id",
    "customer_id",
    "reseller_id",
    "service",
    "direction",
    "access_code",
    "cli",
    "cld",
    "connect_time",
    "disconnect_time",
    "duration_seconds",
    "charged_seconds",
    "quantity",
    "unit",
    "status",
    "reason",
    "tariff_id",
    "rate_prefix",
    "rate",
    "period",
    "amount",
    "currency",
    "rounding",
    "precision",
    "tracking_id",
    "previous_tracking_id",
    "rated_at",
    "position",
)
RATE_COLUMNS = (
    "prefix",
    "access_code",
    "effective_from",
    "price_per_minute",
    "first_interval",
    "next_interval",
    "connection_fee",
    "free_seconds",
    "off_peak_price_per_minute",
    "effective_to",
)


class BillingProjection(Projection):
    """Classes, tariffs, rates, attachments and xDRs; every handler is idempotent."""

    name = "billing"
    version = 1  # bundle tables are new (CREATE IF NOT EXISTS): no rebuild needed for them
    tables = (
        "billing_classes",
        "billing_tariffs",
        "billing_rates",
        "billing_customers",
        "billing_products",
        "billing_resellers",
        "billing_xdrs",
        "billing_bundles",
        "billing_product_bundles",
    )
    schema = (
        "CREATE TABLE IF NOT EXISTS billing_classes (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " rounding TEXT NOT NULL, invoice_precision BIGINT NOT NULL,"
        " usage_precision BIGINT NOT NULL, version BIGINT NOT NULL, created_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS billing_tariffs (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " currency TEXT NOT NULL, precision BIGINT NOT NULL, peak_periods TEXT NOT NULL,"
        " version BIGINT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS billing_rates (tariff_id TEXT NOT NULL, prefix TEXT NOT NULL,"
        " access_code TEXT NOT NULL, effective_from TEXT NOT NULL,"
        " price_per_minute TEXT NOT NULL, first_interval BIGINT NOT NULL,"
        " next_interval BIGINT NOT NULL, connection_fee TEXT NOT NULL,"
        " free_seconds BIGINT NOT NULL, off_peak_price_per_minute TEXT, effective_to TEXT,"
        " version BIGINT NOT NULL, PRIMARY KEY (tariff_id, prefix, access_code, effective_from))",
        "CREATE TABLE IF NOT EXISTS billing_customers (id TEXT PRIMARY KEY,"
        " customer_id TEXT NOT NULL, customer_class_id TEXT, version BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS billing_customers_customer ON billing_customers (customer_id)",
        "CREATE TABLE IF NOT EXISTS billing_products (id TEXT PRIMARY KEY,"
        " product_id TEXT NOT NULL, tariff_id TEXT, version BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS billing_products_product ON billing_products (product_id)",
        "CREATE TABLE IF NOT EXISTS billing_resellers (id TEXT PRIMARY KEY,"
        " reseller_id TEXT NOT NULL, currency TEXT, time_zone TEXT NOT NULL,"
        " billing_period TEXT NOT NULL, tariff_id TEXT, version BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS billing_resellers_reseller ON billing_resellers (reseller_id)",
        "CREATE TABLE IF NOT EXISTS billing_xdrs (id TEXT PRIMARY KEY, leg_id TEXT NOT NULL,"
        " level TEXT NOT NULL, account_id TEXT NOT NULL, customer_id TEXT NOT NULL,"
        " reseller_id TEXT, service TEXT NOT NULL, direction TEXT NOT NULL,"
        " access_code TEXT NOT NULL, cli TEXT NOT NULL, cld TEXT NOT NULL,"
        " connect_time TEXT NOT NULL, disconnect_time TEXT NOT NULL,"
        " duration_seconds BIGINT NOT NULL, charged_seconds BIGINT, quantity TEXT, unit TEXT,"
        " status TEXT NOT NULL, reason TEXT, tariff_id TEXT, rate_prefix TEXT, rate TEXT,"
        " period TEXT, amount TEXT, currency TEXT, rounding TEXT NOT NULL,"
        " precision BIGINT NOT NULL, tracking_id TEXT, previous_tracking_id TEXT,"
        " rated_at TEXT NOT NULL, position BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS billing_xdrs_account"
        " ON billing_xdrs (account_id, level, connect_time)",
        "CREATE INDEX IF NOT EXISTS billing_xdrs_customer"
        " ON billing_xdrs (customer_id, level, connect_time)",
        "CREATE INDEX IF NOT EXISTS billing_xdrs_reseller"
        " ON billing_xdrs (reseller_id, level, connect_time)",
        "CREATE INDEX IF NOT EXISTS billing_xdrs_leg ON billing_xdrs (leg_id)",
        # the closer's question each round: which parties got xDRs since the last one
        "CREATE INDEX IF NOT EXISTS billing_xdrs_position ON billing_xdrs (position)",
        "CREATE TABLE IF NOT EXISTS billing_bundles (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " precision BIGINT NOT NULL, period TEXT NOT NULL, included TEXT NOT NULL,"
        " version BIGINT NOT NULL, created_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS billing_product_bundles (id TEXT PRIMARY KEY,"
        " product_id TEXT NOT NULL, bundle_promotion_id TEXT, version BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS billing_product_bundles_product"
        " ON billing_product_bundles (product_id)",
    )

    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Other events leave billing's read models unchanged."""

    @apply.register
    def _class(self, event: CustomerClass.Created, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO billing_classes (id, name, rounding, invoice_precision,"
            " usage_precision, version, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                event.name,
                event.rounding,
                event.invoice_precision,
                event.usage_precision,
                event.originator_version,
                iso(event.timestamp),
            ),
        )

    @apply.register
    def _class_edited(self, event: CustomerClass.Edited, tx: Transaction, position: int) -> None:
        names = sorted(event.changes)
        sets = ", ".join(f"{name} = %s" for name in names)
        tx.execute(
            f"UPDATE billing_classes SET {sets}, version = %s WHERE id = %s AND version < %s",
            [
                *(event.changes[name][1] for name in names),
                event.originator_version,
                str(event.originator_id),
                event.originator_version,
            ],
        )

    @apply.register
    def _tariff(self, event: Tariff.Created, tx: Transaction, position: int) -> None:
        time = iso(event.timestamp)
        tx.execute(
            "INSERT INTO billing_tariffs (id, name, currency, precision, peak_periods, version,"
            " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                event.name,
                event.currency,
                event.precision,
                json.dumps(event.peak_periods),
                event.originator_version,
                time,
                time,
            ),
        )

    @apply.register
    def _rates(self, event: Tariff.RatesChanged, tx: Transaction, position: int) -> None:
        tariff = str(event.originator_id)
        tx.execute(
            "UPDATE billing_tariffs SET version = %s, updated_at = %s"
            " WHERE id = %s AND version < %s",
            (event.originator_version, iso(event.timestamp), tariff, event.originator_version),
        )
        # No rowcount inside a pipeline: each rate row keeps the version that wrote it, so
        # an event delivered again never overwrites a later change of the same rate.
        names = ", ".join(("tariff_id", *RATE_COLUMNS, "version"))
        updates = ", ".join(f"{c} = excluded.{c}" for c in (*RATE_COLUMNS[3:], "version"))
        tx.executemany(
            f"INSERT INTO billing_rates ({names}) VALUES ({', '.join(['%s'] * 12)})"
            " ON CONFLICT (tariff_id, prefix, access_code, effective_from)"
            f" DO UPDATE SET {updates} WHERE billing_rates.version < excluded.version",
            [
                (
                    tariff,
                    r["prefix"],
                    r.get("access_code") or "outgoing",
                    r.get("effective_from") or "",
                    r["price_per_minute"],
                    r["first_interval"],
                    r["next_interval"],
                    r.get("connection_fee") or "0",
                    r.get("free_seconds") or 0,
                    r.get("off_peak_price_per_minute"),
                    r.get("effective_to"),
                    event.originator_version,
                )
                for r in event.rates
            ],
        )

    @apply.register
    def _classified(
        self, event: CustomerBilling.Classified, tx: Transaction, position: int
    ) -> None:
        tx.execute(
            "INSERT INTO billing_customers (id, customer_id, customer_class_id, version)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                str(event.customer_id),
                plain(event.customer_class_id),
                event.originator_version,
            ),
        )

    @apply.register
    def _attached(
        self, event: ProductBilling.TariffAttached, tx: Transaction, position: int
    ) -> None:
        tx.execute(
            "INSERT INTO billing_products (id, product_id, tariff_id, version)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                str(event.product_id),
                plain(event.tariff_id),
                event.originator_version,
            ),
        )

    @apply.register
    def _configured(
        self, event: ResellerBilling.Configured, tx: Transaction, position: int
    ) -> None:
        tx.execute(
            "INSERT INTO billing_resellers (id, reseller_id, currency, time_zone, billing_period,"
            " tariff_id, version) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                str(event.reseller_id),
                event.currency,
                event.time_zone,
                event.billing_period,
                plain(event.tariff_id),
                event.originator_version,
            ),
        )

    @apply.register
    def _reclassified(
        self, event: CustomerBilling.Reclassified, tx: Transaction, position: int
    ) -> None:
        self._update(tx, "billing_customers", event)

    @apply.register
    def _tariff_changed(
        self, event: ProductBilling.TariffChanged, tx: Transaction, position: int
    ) -> None:
        self._update(tx, "billing_products", event)

    @apply.register
    def _reconfigured(
        self, event: ResellerBilling.Reconfigured, tx: Transaction, position: int
    ) -> None:
        self._update(tx, "billing_resellers", event)

    @apply.register
    def _rated(self, event: Leg.Rated, tx: Transaction, position: int) -> None:
        values = {
            name: plain(getattr(event, name, None))
            for name in XDR_COLUMNS
            if name not in ("id", "rated_at", "position", "rate")
        }
        values.update(
            id=str(event.originator_id),
            rate=json.dumps(event.rate) if event.rate is not None else None,
            rated_at=iso(event.timestamp),
            position=position,
        )
        names = list(values)
        tx.execute(
            f"INSERT INTO billing_xdrs ({', '.join(names)})"
            f" VALUES ({', '.join(['%s'] * len(names))}) ON CONFLICT (id) DO NOTHING",
            [values[n] for n in names],
        )

    @apply.register
    def _rerated(self, event: Leg.Rerated, tx: Transaction, position: int) -> None:
        """A reprocess priced the xDR again (billing part 2); `position` orders them."""
        values = {name: plain(getattr(event, name)) for name in RERATED_FIELDS}
        values["rate"] = json.dumps(event.rate) if event.rate is not None else None
        sets = ", ".join(f"{name} = %s" for name in values)
        tx.execute(
            f"UPDATE billing_xdrs SET {sets}, position = %s WHERE id = %s AND position < %s",
            [*values.values(), position, str(event.originator_id), position],
        )

    @apply.register
    def _bundle(self, event: BundlePromotion.Created, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO billing_bundles (id, name, precision, period, included, version,"
            " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                event.name,
                event.precision,
                event.period,
                json.dumps(event.included),
                event.originator_version,
                iso(event.timestamp),
            ),
        )

    @apply.register
    def _bundle_attached(
        self, event: ProductBundle.BundleAttached, tx: Transaction, position: int
    ) -> None:
        tx.execute(
            "INSERT INTO billing_product_bundles (id, product_id, bundle_promotion_id, version)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                str(event.product_id),
                plain(event.bundle_promotion_id),
                event.originator_version,
            ),
        )

    @apply.register
    def _bundle_changed(
        self, event: ProductBundle.BundleChanged, tx: Transaction, position: int
    ) -> None:
        self._update(tx, "billing_product_bundles", event)

    @staticmethod
    def _update(tx: Transaction, table: str, event: Any) -> None:
        changed = {name: plain(after) for name, (_before, after) in event.changes.items()}
        sets = "".join(f"{name} = %s, " for name in changed)
        tx.execute(
            f"UPDATE {table} SET {sets}version = %s WHERE id = %s AND version < %s",
            [
                *changed.values(),
                event.originator_version,
                str(event.originator_id),
                event.originator_version,
            ],
        )


class BillingQueries:
    """Reads of billing's read models."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchall(sql, params)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchone(sql, params)

    @staticmethod
    def _page(rows: list[Row], limit: int, offset: int) -> tuple[list[Row], int | None]:
        return rows[:limit], (offset + limit if len(rows) > limit else None)

    # -- classes and tariffs -----------------------------------------------------------
    def customer_class(self, class_id: str) -> Row | None:
        return self._one("SELECT * FROM billing_classes WHERE id = %s", (class_id,))

    def customer_classes(self, limit: int, offset: int) -> tuple[list[Row], int | None]:
        rows = self._all(
            "SELECT * FROM billing_classes ORDER BY created_at, id LIMIT %s OFFSET %s",
            (limit + 1, offset),
        )
        return self._page(rows, limit, offset)

    def tariff(self, tariff_id: str) -> Row | None:
        row = self._one("SELECT * FROM billing_tariffs WHERE id = %s", (tariff_id,))
        return self._tariff_row(row) if row else None

    def tariffs(
        self, limit: int, offset: int, only: set[str] | None = None
    ) -> tuple[list[Row], int | None]:
        """Every tariff, or `only` those ids."""
        where, params = "", []
        if only is not None:
            if not only:
                return [], None
            where = f"WHERE id IN ({', '.join(['%s'] * len(only))}) "
            params = sorted(only)
        rows = self._all(
            f"SELECT * FROM billing_tariffs {where}ORDER BY created_at, id LIMIT %s OFFSET %s",
            (*params, limit + 1, offset),
        )
        return self._page([self._tariff_row(r) for r in rows], limit, offset)

    def _tariff_row(self, row: Row) -> Row:
        counted = self._one(
            "SELECT COUNT(*) AS n FROM billing_rates WHERE tariff_id = %s", (row["id"],)
        )
        return {
            **row,
            "peak_periods": json.loads(row["peak_periods"]),
            "rates": int(counted["n"]) if counted else 0,
        }

    def rates(
        self, tariff_id: str, prefix: str | None, limit: int, offset: int
    ) -> tuple[list[Row], int | None]:
        where, params = "tariff_id = %s", [tariff_id]
        if prefix:
            where += " AND prefix = %s"
            params.append(prefix)
        rows = self._all(
            f"SELECT * FROM billing_rates WHERE {where}"
            " ORDER BY prefix, access_code, effective_from LIMIT %s OFFSET %s",
            [*params, limit + 1, offset],
        )
        for row in rows:
            row["effective_from"] = row["effective_from"] or None
            del row["tariff_id"], row["version"]
        return self._page(rows, limit, offset)

    # -- contributed fields ------------------------------------------------------------
    def _by(self, table: str, key: str, column: str, ids: Sequence[str]) -> dict[str, Any]:
        if not ids:
            return {}
        marks = ", ".join(["%s"] * len(ids))
        rows = self._all(f"SELECT {key}, {column} FROM {table} WHERE {key} IN ({marks})", ids)
        return {row[key]: row[column] for row in rows}

    def customer_classes_of(self, customer_ids: Sequence[str]) -> dict[str, Any]:
        return self._by("billing_customers", "customer_id", "customer_class_id", customer_ids)

    def tariffs_of(self, product_ids: Sequence[str]) -> dict[str, Any]:
        return self._by("billing_products", "product_id", "tariff_id", product_ids)

    def bundles_of(self, product_ids: Sequence[str]) -> dict[str, Any]:
        return self._by("billing_product_bundles", "product_id", "bundle_promotion_id", product_ids)

    # -- bundle promotions -------------------------------------------------------------
    def bundle(self, bundle_id: str) -> Row | None:
        row = self._one("SELECT * FROM billing_bundles WHERE id = %s", (bundle_id,))
        return _bundle_row(row) if row else None

    def bundles(self, limit: int, offset: int) -> tuple[list[Row], int | None]:
        rows = self._all(
            "SELECT * FROM billing_bundles ORDER BY created_at, id LIMIT %s OFFSET %s",
            (limit + 1, offset),
        )
        return self._page([_bundle_row(r) for r in rows], limit, offset)

    def resellers(self, reseller_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not reseller_ids:
            return {}
        marks = ", ".join(["%s"] * len(reseller_ids))
        rows = self._all(
            "SELECT reseller_id, currency, time_zone, billing_period, tariff_id"
            f" FROM billing_resellers WHERE reseller_id IN ({marks})",
            reseller_ids,
        )
        return {row.pop("reseller_id"): row for row in rows}

    # -- xDRs --------------------------------------------------------------------------
    def xdrs(
        self,
        scope: Scope,
        filters: dict[str, str | None],
        limit: int,
        offset: int,
    ) -> tuple[list[Row], int | None]:
        where, params = ["level = %s"], [filters.get("level") or CUSTOMER]
        for column in ("account_id", "customer_id", "reseller_id", "status"):
            if filters.get(column):
                where.append(f"{column} = %s")
                params.append(filters[column])  # type: ignore[arg-type]
        if not scope.unrestricted:
            column, principal = (
                ("reseller_id", scope.reseller_id)
                if scope.reseller_id
                else ("customer_id", scope.customer_id)
                if scope.customer_id
                else ("account_id", scope.account_id)
            )
            where.append(f"{column} = %s")
            params.append(str(principal))
        rows = self._all(
            f"SELECT * FROM billing_xdrs WHERE {' AND '.join(where)}"
            " ORDER BY connect_time, id LIMIT %s OFFSET %s",
            [*params, limit + 1, offset],
        )
        return self._page([xdr_row(r) for r in rows], limit, offset)

    def xdr_of_leg(self, leg_id: str, level: str = CUSTOMER) -> Row | None:
        row = self._one(
            "SELECT * FROM billing_xdrs WHERE leg_id = %s AND level = %s", (leg_id, level)
        )
        return xdr_row(row) if row else None


def xdr_row(row: Row) -> Row:
    return {**row, "rate": json.loads(row["rate"]) if row["rate"] else None}


def _bundle_row(row: Row) -> Row:
    return {**row, "included": json.loads(row["included"])}
