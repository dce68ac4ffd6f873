"""Subscription read models: plans, subscriptions (with when and why they end: ended,
account closed, product taken away, plan removed) and times without service (blocks and
recorded outages), which the charger turns into charges and credits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any

from adapters.sql import Database, Row, Transaction
from domain.billing.subscriptions import ServiceOutage, Subscription, SubscriptionPlan
from domain.directory.access import Scope
from domain.directory.aggregates import Account
from domain.provisioning.pbx import Agreement
from domain.shared.aggregate import iso, plain
from projections.base import Projection

_END = (
    "UPDATE subscriptions SET ended_at = %s, end_reason = %s"
    " WHERE {where} AND (ended_at IS NULL OR ended_at > %s)"
)


class SubscriptionsProjection(Projection):
    """Plans, subscriptions and outages; every handler is idempotent."""

    name = "subscriptions"
    version = 2  # 2: plans' fee changes and edits, subscriptions' adjustments over time
    tables = (
        "subscription_plans",
        "subscription_plan_fees",
        "subscriptions",
        "subscription_adjustments",
        "service_outages",
    )
    schema = (
        "CREATE TABLE IF NOT EXISTS subscription_plans (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " product_id TEXT NOT NULL, level TEXT NOT NULL, fee TEXT NOT NULL,"
        " currency TEXT NOT NULL, period TEXT NOT NULL, charged TEXT NOT NULL,"
        " prorate BOOLEAN NOT NULL, activation TEXT NOT NULL, multiple BOOLEAN NOT NULL,"
        " managed_by TEXT, shared_with_resellers BOOLEAN NOT NULL, progressive BOOLEAN NOT NULL,"
        " prepaid_months BIGINT NOT NULL, precision BIGINT NOT NULL,"
        " credit_conditions TEXT NOT NULL, status TEXT NOT NULL, version BIGINT NOT NULL,"
        " created_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS subscriptions (id TEXT PRIMARY KEY, plan_id TEXT NOT NULL,"
        " product_id TEXT NOT NULL, level TEXT NOT NULL, account_id TEXT NOT NULL,"
        " customer_id TEXT NOT NULL, reseller_id TEXT, start TEXT NOT NULL,"
        " period TEXT NOT NULL, zone TEXT NOT NULL, adjustment_kind TEXT,"
        " adjustment_value TEXT, ended_at TEXT, end_reason TEXT, version BIGINT NOT NULL,"
        " created_at TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS subscriptions_account ON subscriptions (account_id)",
        "CREATE INDEX IF NOT EXISTS subscriptions_plan ON subscriptions (plan_id)",
        "CREATE TABLE IF NOT EXISTS service_outages (id TEXT PRIMARY KEY,"
        " customer_id TEXT, account_id TEXT, condition TEXT NOT NULL, start TEXT NOT NULL,"
        " end_at TEXT)",
        "CREATE INDEX IF NOT EXISTS service_outages_account ON service_outages (account_id)",
        "CREATE INDEX IF NOT EXISTS service_outages_customer ON service_outages (customer_id)",
        "CREATE TABLE IF NOT EXISTS subscription_plan_fees (plan_id TEXT NOT NULL,"
        " version BIGINT NOT NULL, effective TEXT, fee TEXT NOT NULL, reason TEXT,"
        " actor TEXT, position BIGINT NOT NULL, PRIMARY KEY (plan_id, version))",
        "CREATE TABLE IF NOT EXISTS subscription_adjustments (subscription_id TEXT NOT NULL,"
        " version BIGINT NOT NULL, at TEXT NOT NULL, kind TEXT, value TEXT,"
        " position BIGINT NOT NULL, PRIMARY KEY (subscription_id, version))",
    )

    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Other events leave these read models unchanged."""

    @apply.register
    def _plan(self, event: SubscriptionPlan.Created, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO subscription_plans VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                event.name,
                str(event.product_id),
                event.level,
                str(event.fee),
                event.currency,
                event.period,
                event.charged,
                event.prorate,
                event.activation,
                event.multiple,
                plain(event.managed_by),
                event.shared_with_resellers,
                event.progressive,
                event.prepaid_months,
                event.precision,
                json.dumps(event.credit_conditions),
                "active",
                event.originator_version,
                iso(event.timestamp),
            ),
        )
        tx.execute(
            "INSERT INTO subscription_plan_fees (plan_id, version, effective, fee, position)"
            " VALUES (%s, %s, NULL, %s, %s) ON CONFLICT (plan_id, version) DO NOTHING",
            (str(event.originator_id), event.originator_version, str(event.fee), position),
        )

    @apply.register
    def _fee_changed(
        self, event: SubscriptionPlan.FeeChanged, tx: Transaction, position: int
    ) -> None:
        plan = str(event.originator_id)
        tx.execute(
            "INSERT INTO subscription_plan_fees VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (plan_id, version) DO NOTHING",
            (
                plan,
                event.originator_version,
                iso(event.effective),
                str(event.fee),
                event.reason,
                event.actor.id,
                position,
            ),
        )
        tx.execute(
            "UPDATE subscription_plans SET fee = %s, version = %s WHERE id = %s AND version < %s",
            (str(event.fee), event.originator_version, plan, event.originator_version),
        )

    @apply.register
    def _plan_edited(self, event: SubscriptionPlan.Edited, tx: Transaction, position: int) -> None:
        sets, params = ["version = %s"], [event.originator_version]
        for name, (_before, after) in event.changes.items():
            sets.append(f"{name} = %s")
            params.append(json.dumps(after) if name == "credit_conditions" else after)
        tx.execute(
            f"UPDATE subscription_plans SET {', '.join(sets)} WHERE id = %s AND version < %s",
            [*params, str(event.originator_id), event.originator_version],
        )

    @apply.register
    def _plan_removed(
        self, event: SubscriptionPlan.Removed, tx: Transaction, position: int
    ) -> None:
        plan = str(event.originator_id)
        tx.execute(
            "UPDATE subscription_plans SET status = 'removed', version = %s WHERE id = %s",
            (event.originator_version, plan),
        )
        self._end(tx, "plan_id = %s", [plan], event, "the plan was removed")

    @apply.register
    def _subscribed(self, event: Subscription.Subscribed, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO subscriptions (id, plan_id, product_id, level, account_id, customer_id,"
            " reseller_id, start, period, zone, version, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                str(event.plan_id),
                str(event.product_id),
                event.level,
                str(event.account_id),
                str(event.customer_id),
                plain(event.reseller_id),
                iso(event.start),
                event.period,
                event.zone,
                event.originator_version,
                iso(event.timestamp),
            ),
        )

    @apply.register
    def _adjusted(self, event: Subscription.Adjusted, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO subscription_adjustments VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (subscription_id, version) DO NOTHING",
            (
                str(event.originator_id),
                event.originator_version,
                iso(event.timestamp),
                event.kind,
                plain(event.value),
                position,
            ),
        )
        tx.execute(
            "UPDATE subscriptions SET adjustment_kind = %s, adjustment_value = %s, version = %s"
            " WHERE id = %s AND version < %s",
            (
                event.kind,
                plain(event.value),
                event.originator_version,
                str(event.originator_id),
                event.originator_version,
            ),
        )

    @apply.register
    def _ended(self, event: Subscription.Ended, tx: Transaction, position: int) -> None:
        tx.execute(
            _END.format(where="id = %s"),
            (iso(event.end), event.reason, str(event.originator_id), iso(event.end)),
        )
        # the row shows the aggregate's version: `POST .../end` waits for it (it waited its
        # whole read-your-writes timeout, 5 s, when the version stayed behind)
        tx.execute(
            "UPDATE subscriptions SET version = %s WHERE id = %s AND version < %s",
            (event.originator_version, str(event.originator_id), event.originator_version),
        )

    @apply.register
    def _account_closed(self, event: Account.Closed, tx: Transaction, position: int) -> None:
        self._end(tx, "account_id = %s", [str(event.originator_id)], event, "the account closed")

    @apply.register
    def _products(self, event: Agreement.ProductsAssigned, tx: Transaction, position: int) -> None:
        held = [str(p) for p in event.products]
        where, params = "account_id = %s", [str(event.account_id)]
        if held:
            where += f" AND product_id NOT IN ({', '.join(['%s'] * len(held))})"
            params += held
        self._end(tx, where, params, event, "the account no longer holds the product")

    @apply.register
    def _blocked(self, event: Account.Blocked, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO service_outages (id, account_id, condition, start)"
            " VALUES (%s, %s, 'blocked', %s) ON CONFLICT (id) DO NOTHING",
            (
                f"{event.originator_id}:{event.originator_version}",
                str(event.originator_id),
                iso(event.timestamp),
            ),
        )

    @apply.register
    def _unblocked(self, event: Account.Unblocked, tx: Transaction, position: int) -> None:
        at = iso(event.timestamp)
        tx.execute(
            "UPDATE service_outages SET end_at = %s WHERE account_id = %s"
            " AND customer_id IS NULL AND condition = 'blocked' AND end_at IS NULL"
            " AND start <= %s",
            (at, str(event.originator_id), at),
        )

    @apply.register
    def _outage(self, event: ServiceOutage.Recorded, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO service_outages (id, customer_id, account_id, condition, start, end_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                str(event.customer_id),
                plain(event.account_id),
                event.condition,
                iso(event.start),
                iso(event.end) if event.end else None,
            ),
        )

    @apply.register
    def _outage_ended(self, event: ServiceOutage.Ended, tx: Transaction, position: int) -> None:
        tx.execute(
            "UPDATE service_outages SET end_at = %s WHERE id = %s",
            (iso(event.end), str(event.originator_id)),
        )

    @staticmethod
    def _end(tx: Transaction, where: str, params: list[Any], event: Any, reason: str) -> None:
        at = iso(event.timestamp)
        tx.execute(_END.format(where=where), [at, reason, *params, at])


class SubscriptionQueries:
    """Reads of plans, subscriptions and outages."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchall(sql, params)

    def plan(self, plan_id: str) -> Row | None:
        rows = self._all("SELECT * FROM subscription_plans WHERE id = %s", (plan_id,))
        return plan_row(rows[0]) if rows else None

    def plans(self, scope: Scope, limit: int, offset: int) -> tuple[list[Row], int | None]:
        where, params = "", []
        if not scope.unrestricted:
            where = "WHERE level = 'account' AND (managed_by = %s OR (managed_by IS NULL AND"
            where += " shared_with_resellers))"
            params = [str(scope.reseller_id)]
        rows = self._all(
            f"SELECT * FROM subscription_plans {where} ORDER BY created_at, id LIMIT %s OFFSET %s",
            [*params, limit + 1, offset],
        )
        return [plan_row(r) for r in rows[:limit]], (offset + limit if len(rows) > limit else None)

    def subscription(self, subscription_id: str) -> Row | None:
        rows = self._all("SELECT * FROM subscriptions WHERE id = %s", (subscription_id,))
        return rows[0] if rows else None

    def of_account(self, account_id: str, levels: Sequence[str]) -> list[Row]:
        marks = ", ".join(["%s"] * len(levels))
        return self._all(
            f"SELECT * FROM subscriptions WHERE account_id = %s AND level IN ({marks})"
            " ORDER BY created_at, id",
            [account_id, *levels],
        )

    def running(self, since: str) -> list[Row]:
        """Subscriptions with their plans, still running or ended after `since`."""
        return self._all(
            "SELECT s.*, p.fee, p.currency, p.charged, p.prorate, p.activation, p.precision,"
            " p.credit_conditions, p.prepaid_months FROM subscriptions s"
            " JOIN subscription_plans p"
            " ON p.id = s.plan_id WHERE s.ended_at IS NULL OR s.ended_at >= %s"
            " ORDER BY s.id",
            (since,),
        )

    def plan_fees(self, plan_id: str) -> list[Row]:
        """The plan's fee as created (effective None), then each change."""
        return self._all(
            "SELECT * FROM subscription_plan_fees WHERE plan_id = %s ORDER BY version", (plan_id,)
        )

    def fee_history(self, plan_id: str, subscription_id: str) -> list[Row]:
        """The plan's fees (`kind` 'fee'; effective None: as created) and the subscription's
        adjustments (`kind` 'adjustment'), read in one statement: one snapshot of the log."""
        return self._all(
            "SELECT 'fee' AS kind, version, effective AS at, fee, NULL AS adjustment_kind,"
            " NULL AS adjustment_value, position FROM subscription_plan_fees"
            " WHERE plan_id = %s UNION ALL"
            " SELECT 'adjustment' AS kind, version, at, NULL AS fee, kind AS adjustment_kind,"
            " value AS adjustment_value, position FROM subscription_adjustments"
            " WHERE subscription_id = %s",
            (plan_id, subscription_id),
        )

    def outage(self, outage_id: str) -> Row | None:
        rows = self._all("SELECT * FROM service_outages WHERE id = %s", (outage_id,))
        return rows[0] if rows else None

    def outages(self, account_id: str, customer_id: str) -> list[Row]:
        return self._all(
            "SELECT condition, start, end_at FROM service_outages"
            " WHERE account_id = %s OR (customer_id = %s AND account_id IS NULL)"
            " ORDER BY start",
            (account_id, customer_id),
        )


def plan_row(row: Row) -> Row:
    return {
        **row,
        "credit_conditions": json.loads(row["credit_conditions"]),
        "prorate": bool(row["prorate"]),
        "multiple": bool(row["multiple"]),
        "shared_with_resellers": bool(row["shared_with_resellers"]),
        "progressive": bool(row["progressive"]),
    }
