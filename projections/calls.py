"""Calls as read models: active calls, every call's notifications, the callback outbox.

`calls` and `call_events` are replay-safe views (`GET /v1/calls/active`,
`GET /v1/calls/{id}/events`); `call_callbacks` enqueues each state callback once, in the
transaction that moves its position, and sends nothing itself (the deliverer does).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any

from adapters.secrets import SecretBox
from adapters.sql import Database, Row, Transaction
from domain.calls.calls import Call, Notified, notification
from domain.calls.secrets import CallbackSecret
from domain.calls.states import LegState, call_state
from domain.directory.access import Scope, owner_key
from domain.shared.aggregate import iso, plain
from domain.shared.clock import SYSTEM_CLOCK, Clock
from projections.base import LoggedEventLike, Projection


def _legs(call_legs: dict[str, Any]) -> str:
    return json.dumps(plain(list(call_legs.values())), separators=(",", ":"))


class CallsProjection(Projection):
    """Every call with its legs and state, who it belongs to, and its notifications."""

    name = "calls"
    tables = ("calls", "call_parties", "call_events")
    schema = (
        "CREATE TABLE IF NOT EXISTS calls (call_id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
        " tracking_id TEXT NOT NULL, previous_tracking_id TEXT, state TEXT NOT NULL,"
        " active INTEGER NOT NULL, legs TEXT NOT NULL, caller_number TEXT NOT NULL,"
        " callee_number TEXT NOT NULL, bill_account_id TEXT, started_at TEXT NOT NULL,"
        " updated_at TEXT NOT NULL, version BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS calls_active ON calls (active, started_at)",
        "CREATE TABLE IF NOT EXISTS call_parties (call_id TEXT NOT NULL,"
        " reseller_id TEXT NOT NULL, customer_id TEXT NOT NULL, account_id TEXT NOT NULL,"
        " PRIMARY KEY (call_id, reseller_id, customer_id, account_id))",
        "CREATE INDEX IF NOT EXISTS call_parties_account ON call_parties (account_id)",
        "CREATE INDEX IF NOT EXISTS call_parties_customer ON call_parties (customer_id)",
        "CREATE INDEX IF NOT EXISTS call_parties_reseller ON call_parties (reseller_id)",
        "CREATE TABLE IF NOT EXISTS call_events (call_id TEXT NOT NULL, seq BIGINT NOT NULL,"
        " position BIGINT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (call_id, seq))",
    )

    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Other events leave these read models unchanged."""

    @apply.register
    def _originated(self, event: Call.Originated, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO calls VALUES (%s, %s, %s, NULL, 'trying', 1, '[]', %s, %s, %s, %s, %s,"
            " %s) ON CONFLICT (call_id) DO NOTHING",
            (
                str(event.originator_id),
                event.kind,
                event.tracking_id,
                event.caller_number,
                event.callee_number,
                plain(event.bill_account_id),
                iso(event.timestamp),
                iso(event.timestamp),
                event.originator_version,
            ),
        )
        self._parties(tx, event, event.parties)

    @apply.register
    def _joined(self, event: Call.PartyJoined, tx: Transaction, position: int) -> None:
        self._parties(tx, event, [event.party])

    def apply_batch(self, tx: Transaction, batch: Sequence[LoggedEventLike]) -> None:
        """A batch's changes to each call are applied in memory and written once per call
        (a call's events come in bursts: per-event reads and writes set the catch-up rate)."""
        shadows: dict[str, _Shadow | None] = {}
        notices: list[tuple[Any, ...]] = []
        for item in batch:
            event = item.event
            if not isinstance(event, Notified | Call.Bridged):
                self.handle(event, tx, item.position)
                continue
            key = str(event.originator_id)
            if key not in shadows:
                shadows[key] = _Shadow.load(tx, event.originator_id)
            shadow = shadows[key]
            if isinstance(event, Notified):
                notices.append(
                    (
                        key,
                        event.seq,
                        item.position,
                        json.dumps(notification(event), separators=(",", ":")),
                    )
                )
            if shadow is None or shadow.version >= event.originator_version:
                continue
            event.apply(shadow)
            shadow.version = event.originator_version
            shadow.updated_at = iso(event.timestamp)
            shadow.changed = True
        if notices:
            tx.executemany(
                "INSERT INTO call_events VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING", notices
            )
        for shadow in shadows.values():
            if shadow is not None and shadow.changed:
                shadow.save(tx)

    @staticmethod
    def _parties(tx: Transaction, event: Any, parties: Sequence[Any]) -> None:
        for party in parties:
            tx.execute(
                "INSERT INTO call_parties VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    str(event.originator_id),
                    plain(party.reseller_id) or "",
                    plain(party.customer_id) or "",
                    plain(party.account_id) or "",
                ),
            )


class _Shadow:
    """Just enough of a `Call` for its events' `apply` to run on a read-model row."""

    def __init__(self, call_id: Any, row: Row) -> None:
        self.id = call_id
        self.legs = {leg["leg_id"]: leg for leg in json.loads(row["legs"])}
        self.seq = 0
        self.tracking_id: str = row["tracking_id"]
        self.previous_tracking_id: str | None = row["previous_tracking_id"]
        self.parties: list[Any] = []
        self.version = int(row["version"])
        self.updated_at = str(row["updated_at"])
        self.changed = False

    @classmethod
    def load(cls, tx: Transaction, call_id: Any) -> _Shadow | None:
        row = tx.fetchone(
            "SELECT legs, version, tracking_id, previous_tracking_id, updated_at FROM calls"
            " WHERE call_id = %s",
            (str(call_id),),
        )
        return cls(call_id, row) if row is not None else None

    def save(self, tx: Transaction) -> None:
        tx.execute(
            "UPDATE calls SET legs = %s, state = %s, active = %s, tracking_id = %s,"
            " previous_tracking_id = %s, updated_at = %s, version = %s WHERE call_id = %s"
            " AND version < %s",
            (
                _legs(self.legs),
                self.state,
                1 if self.active else 0,
                self.tracking_id,
                self.previous_tracking_id,
                self.updated_at,
                self.version,
                str(self.id),
                self.version,
            ),
        )

    @property
    def active(self) -> bool:
        return any(leg["state"] != "terminated" for leg in self.legs.values())

    @property
    def state(self) -> str:
        return call_state([LegState(leg["state"]) for leg in self.legs.values()]).value


class CallQueries:
    """Active calls by realm, and a call's notifications."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def active(
        self,
        scope: Scope,
        limit: int,
        offset: int,
        account_id: str | None = None,
        customer_id: str | None = None,
    ) -> tuple[list[dict[str, Any]], int | None]:
        sql = "SELECT c.* FROM calls c WHERE c.active = 1"
        params: list[Any] = []
        wanted = [("account_id", account_id), ("customer_id", customer_id)]
        key = owner_key(scope)
        if key is not None:
            wanted.append((key[0], str(key[1])))
        for column, value in wanted:
            if value is not None:
                sql += (
                    " AND EXISTS (SELECT 1 FROM call_parties p WHERE p.call_id = c.call_id"
                    f" AND p.{column} = %s)"
                )
                params.append(value)
        sql += " ORDER BY c.started_at, c.call_id LIMIT %s OFFSET %s"
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(sql, [*params, limit + 1, offset])
        more = len(rows) > limit
        return [_public(r) for r in rows[:limit]], (offset + limit if more else None)

    def call(self, call_id: str) -> dict[str, Any] | None:
        with self.db.transaction(readonly=True) as tx:
            row = tx.fetchone("SELECT * FROM calls WHERE call_id = %s", (call_id,))
        return _public(row) if row else None

    def events(self, call_id: str, after_seq: int = 0) -> list[dict[str, Any]]:
        with self.db.transaction(readonly=True) as tx:
            rows = tx.fetchall(
                "SELECT body FROM call_events WHERE call_id = %s AND seq > %s ORDER BY seq",
                (call_id, after_seq),
            )
        return [json.loads(r["body"]) for r in rows]


def _public(row: Row) -> dict[str, Any]:
    legs = json.loads(row["legs"])
    return {
        "call_id": row["call_id"],
        "tracking_id": row["tracking_id"],
        "previous_tracking_id": row["previous_tracking_id"],
        "state": row["state"],
        "started_at": row["started_at"],
        "legs": [
            {
                "leg_id": leg["leg_id"],
                "number": leg["number"],
                "role": leg["role"],
                "state": leg["state"],
                "account_id": leg.get("account_id"),
                "connected_at": leg.get("connected_at"),
            }
            for leg in legs
        ],
    }


class CallbackOutbox(Projection):
    """State callbacks to send: one row per matching notification of a call that asked for
    them, and each principal's signing secret (sealed, as in the log)."""

    name = "call_callbacks"
    replay_safe = False  # it enqueues deliveries: a scratch replay must never send anything
    tables = ("call_callback_targets", "call_callbacks", "call_signing_secrets")
    schema = (
        "CREATE TABLE IF NOT EXISTS call_callback_targets (call_id TEXT PRIMARY KEY,"
        " url TEXT NOT NULL, events TEXT NOT NULL, principal_id TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS call_callbacks (call_id TEXT NOT NULL, seq BIGINT NOT NULL,"
        " url TEXT NOT NULL, principal_id TEXT NOT NULL, payload TEXT NOT NULL,"
        " status TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt_at TEXT NOT NULL,"
        " created_at TEXT NOT NULL, first_attempt_at TEXT, delivered_at TEXT,"
        " last_status INTEGER, last_error TEXT, PRIMARY KEY (call_id, seq))",
        "CREATE INDEX IF NOT EXISTS call_callbacks_due ON call_callbacks (status, call_id, seq)",
        "CREATE TABLE IF NOT EXISTS call_signing_secrets (principal_id TEXT PRIMARY KEY,"
        " secret TEXT NOT NULL)",
    )

    def __init__(self, secrets: SecretBox, clock: Clock = SYSTEM_CLOCK) -> None:
        self.secrets = secrets
        self.clock = clock
        self._targets: dict[str, Row | None] = {}

    def apply_batch(self, tx: Transaction, batch: Sequence[LoggedEventLike]) -> None:
        self._targets = {}  # each call's callback target, read once per batch
        super().apply_batch(tx, batch)

    def drop(self, tx: Transaction) -> None:
        """Callbacks are kept: a rebuild must not send anything a second time."""
        for table in ("call_callback_targets", "call_signing_secrets"):
            tx.execute(f"DROP TABLE IF EXISTS {table}")

    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Other events enqueue nothing."""

    @apply.register
    def _issued(self, event: CallbackSecret.Issued, tx: Transaction, position: int) -> None:
        tx.execute(
            "INSERT INTO call_signing_secrets VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (event.principal_id, self.secrets.seal(event.secret.value)),
        )

    @apply.register
    def _originated(self, event: Call.Originated, tx: Transaction, position: int) -> None:
        self._targets.pop(str(event.originator_id), None)
        if event.state_callback and event.callback_principal:
            tx.execute(
                "INSERT INTO call_callback_targets VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    str(event.originator_id),
                    event.state_callback,
                    json.dumps(event.state_callback_events),
                    event.callback_principal,
                ),
            )

    @apply.register
    def _notified(self, event: Notified, tx: Transaction, position: int) -> None:
        key = str(event.originator_id)
        if key not in self._targets:
            self._targets[key] = tx.fetchone(
                "SELECT * FROM call_callback_targets WHERE call_id = %s", (key,)
            )
        target = self._targets[key]
        if target is None or event.state not in json.loads(target["events"]):
            return
        now = iso(self.clock.now())
        body = notification(event)
        payload = {k: body[k] for k in _CALLBACK_FIELDS if k in body}
        tx.execute(
            "INSERT INTO call_callbacks (call_id, seq, url, principal_id, payload, status,"
            " attempts, next_attempt_at, created_at) VALUES (%s, %s, %s, %s, %s, 'pending', 0,"
            " %s, %s) ON CONFLICT DO NOTHING",
            (
                str(event.originator_id),
                event.seq,
                target["url"],
                target["principal_id"],
                json.dumps(payload, separators=(",", ":")),
                now,
                now,
            ),
        )


_CALLBACK_FIELDS = (
    "call_id",
    "tracking_id",
    "previous_tracking_id",
    "state",
    "reason",
    "time",
    "seq",
    "leg_id",
)
