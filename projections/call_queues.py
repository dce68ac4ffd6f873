"""Call queues as a read model: each queue, and each call's stay in it (for statistics)."""

from __future__ import annotations

import json
from functools import singledispatchmethod
from typing import Any

from adapters.sql import Database, Row, Transaction
from domain.calls.queues import CallQueue
from domain.directory.access import Scope
from domain.shared.aggregate import iso, plain
from projections.base import Projection


class CallQueuesProjection(Projection):
    """`call_queues` and `call_queue_calls`: waiting, connected, or left unconnected."""

    name = "call_queues"
    tables = ("call_queues", "call_queue_calls")
    schema = (
        "CREATE TABLE IF NOT EXISTS call_queues (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " number TEXT NOT NULL, reseller_id TEXT, customer_id TEXT NOT NULL,"
        " agent_account_ids TEXT NOT NULL, created_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS call_queue_calls (queue_id TEXT NOT NULL,"
        " call_id TEXT NOT NULL, status TEXT NOT NULL, queued_at TEXT NOT NULL,"
        " wait_ms BIGINT, agent_account_id TEXT, requeued BIGINT NOT NULL,"
        " PRIMARY KEY (queue_id, call_id))",
    )

    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Other events leave these read models unchanged."""

    @apply.register
    def _created(self, event: CallQueue.Created, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO call_queues VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (
                str(event.originator_id),
                event.name,
                event.number,
                plain(event.owner.reseller_id),
                plain(event.owner.customer_id),
                json.dumps(plain(event.agent_account_ids)),
                iso(event.timestamp),
            ),
        )

    @apply.register
    def _queued(self, event: CallQueue.CallerQueued, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO call_queue_calls VALUES (%s, %s, 'waiting', %s, NULL, NULL, 0)"
            " ON CONFLICT (queue_id, call_id) DO UPDATE SET requeued = call_queue_calls.requeued"
            " + 1",
            (str(event.originator_id), str(event.call_id), iso(event.timestamp)),
        )

    @apply.register
    def _connected(self, event: CallQueue.CallerConnected, tx: Transaction, position: int) -> None:
        self._end(tx, event, "connected", event.wait_ms, str(event.agent_account_id))

    @apply.register
    def _left(self, event: CallQueue.CallerLeft, tx: Transaction, position: int) -> None:
        self._end(tx, event, "left", event.wait_ms, None)

    @staticmethod
    def _end(tx: Transaction, event: Any, status: str, wait_ms: int, agent: str | None) -> None:
        tx.execute(
            "UPDATE call_queue_calls SET status = %s, wait_ms = %s, agent_account_id = %s"
            " WHERE queue_id = %s AND call_id = %s",
            (status, wait_ms, agent, str(event.originator_id), str(event.call_id)),
        )


class CallQueueQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def queues(self, scope: Scope, queue_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM call_queues WHERE 1 = 1"
        params: list[Any] = []
        if queue_id is not None:
            sql += " AND id = %s"
            params.append(queue_id)
        if scope.reseller_id is not None:
            sql += " AND reseller_id = %s"
            params.append(str(scope.reseller_id))
        elif scope.customer_id is not None:
            sql += " AND customer_id = %s"
            params.append(str(scope.customer_id))
        elif scope.account_id is not None:
            sql += " AND agent_account_ids LIKE %s"
            params.append(f'%"{scope.account_id}"%')
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(sql + " ORDER BY created_at, id", params)
            stats = {r["id"]: self._stats(tx, r["id"]) for r in rows}
        return [_public(r, stats[r["id"]]) for r in rows]

    @staticmethod
    def _stats(tx: Transaction, queue_id: str) -> dict[str, Any]:
        rows = tx.fetchall(
            "SELECT status, COUNT(*) AS n, SUM(wait_ms) AS waited, SUM(requeued) AS requeued"
            " FROM call_queue_calls WHERE queue_id = %s GROUP BY status",
            (queue_id,),
        )
        by = {r["status"]: r for r in rows}
        connected = by.get("connected") or {}
        count = {s: int(by[s]["n"]) if s in by else 0 for s in ("waiting", "connected", "left")}
        answered = sum(count.values())
        return {
            "queued": answered,
            "waiting": count["waiting"],
            "connected": count["connected"],
            "answered_not_connected": count["left"],
            "answered_not_connected_percent": (
                round(100 * count["left"] / answered, 1) if answered else 0.0
            ),
            "requeued": sum(int(r["requeued"] or 0) for r in rows),
            "average_wait_ms": (
                int(connected["waited"] or 0) // count["connected"] if count["connected"] else None
            ),
        }


def _public(row: Row, stats: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "number": row["number"],
        "customer_id": row["customer_id"],
        "agent_account_ids": json.loads(row["agent_account_ids"]),
        "stats": stats,
    }
