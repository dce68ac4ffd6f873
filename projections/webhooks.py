"""Webhook endpoints and their delivery outbox, as a projection of the log.

Each published event becomes one delivery row per matching endpoint, in the same
transaction as the projection's position: an event is enqueued exactly once, whoever
projects it. Whom an event belongs to travels on the event itself, so the outbox needs no
other read model and no lookup to decide which endpoints may see it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from adapters.envelope import to_envelope
from adapters.secrets import SecretBox
from adapters.sql import Transaction
from domain.directory.access import EventFilter, Owners, Scope, sees_event
from domain.shared.actor import Actor, Realm
from domain.shared.aggregate import SwitchlogAggregate, event_type, iso, plain
from domain.shared.clock import SYSTEM_CLOCK, Clock
from domain.shared.registry import registry
from domain.webhooks.aggregates import WebhookEndpoint
from projections.base import LoggedEventLike, Projection


class WebhookProjection(Projection):
    """Endpoints (their signing secrets sealed, as in the log) and the delivery outbox."""

    name = "webhooks"
    version = 2  # v2: secrets sealed, event types named by context
    replay_safe = False  # it enqueues deliveries: a scratch replay must never send anything
    tables = ("webhook_endpoints", "webhook_deliveries")
    schema = (
        "CREATE TABLE IF NOT EXISTS webhook_endpoints (id TEXT PRIMARY KEY, url TEXT NOT NULL,"
        " event_types TEXT NOT NULL, subject TEXT, customer_id TEXT, owner_id TEXT NOT NULL,"
        " owner_realm TEXT NOT NULL, secret TEXT NOT NULL, status TEXT NOT NULL,"
        " disabled_reason TEXT, version BIGINT NOT NULL, created_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS webhook_deliveries (endpoint_id TEXT NOT NULL,"
        " message_id TEXT NOT NULL, position BIGINT NOT NULL, event_type TEXT NOT NULL,"
        " payload TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,"
        " next_attempt_at TEXT NOT NULL, lease_until TEXT, last_status INTEGER,"
        " last_error TEXT, created_at TEXT NOT NULL, delivered_at TEXT,"
        " PRIMARY KEY (endpoint_id, message_id))",
        "CREATE INDEX IF NOT EXISTS webhook_due ON webhook_deliveries (status, next_attempt_at)",
    )

    def __init__(self, secrets: SecretBox, clock: Clock = SYSTEM_CLOCK) -> None:
        self.secrets = secrets
        self.clock = clock

    def drop(self, tx: Transaction) -> None:
        """Deliveries are kept: a rebuild must not send anything a second time."""
        for table in ("webhook_endpoints", "webhook_owners"):  # owners: before events had them
            tx.execute(f"DROP TABLE IF EXISTS {table}")

    def apply_batch(self, tx: Transaction, batch: Sequence[LoggedEventLike]) -> None:
        endpoints: list[dict[str, Any]] | None = None
        for item in batch:
            event = item.event
            self.handle(event, tx, item.position)
            if isinstance(event, WebhookEndpoint.Event):
                endpoints = None
            if isinstance(event, SwitchlogAggregate.Event) and event.audited:
                if endpoints is None:
                    endpoints = tx.fetchall(
                        "SELECT * FROM webhook_endpoints WHERE status = 'active'"
                    )
                if endpoints:
                    self._enqueue(tx, item.position, event, endpoints)

    # -- endpoints ---------------------------------------------------------------------
    @singledispatchmethod
    def apply(self, event: object, tx: Transaction, position: int) -> None:
        """Other events only matter for ownership (below) and the outbox."""

    @apply.register
    def _registered(
        self, event: WebhookEndpoint.Registered, tx: Transaction, position: int
    ) -> None:
        tx.execute(
            "INSERT INTO webhook_endpoints VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, %s, 'active', NULL, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                event.url,
                json.dumps(sorted(registry().stored(event.event_types))),
                plain(event.subject),
                plain(event.customer_id),
                event.owner_id,
                event.owner_realm,
                self.secrets.seal(event.secret.value),
                event.originator_version,
                iso(event.timestamp),
            ),
        )

    @apply.register
    def _changed(
        self,
        event: WebhookEndpoint.Disabled | WebhookEndpoint.Deleted,
        tx: Transaction,
        position: int,
    ) -> None:
        after = {name: new for name, (_old, new) in event.changes.items()}
        tx.execute(
            "UPDATE webhook_endpoints SET status = %s, disabled_reason = %s, version = %s"
            " WHERE id = %s AND version < %s",
            (
                after.get("status"),
                after.get("disabled_reason"),
                event.originator_version,
                str(event.originator_id),
                event.originator_version,
            ),
        )
        tx.execute(
            "UPDATE webhook_deliveries SET status = 'cancelled'"
            " WHERE endpoint_id = %s AND status = 'pending'",
            (str(event.originator_id),),
        )

    # -- the outbox --------------------------------------------------------------------
    def _enqueue(
        self, tx: Transaction, position: int, event: Any, endpoints: list[dict[str, Any]]
    ) -> None:
        kind = event_type(event)
        subject = event.originator_id
        owners = event.owners
        envelope = to_envelope(position, event)
        payload = json.dumps(envelope, separators=(",", ":"))
        message_id = f"msg_{subject.hex}_{event.originator_version}"
        now = iso(self.clock.now())
        for endpoint in endpoints:
            if not _wants(endpoint, kind, subject, owners):
                continue
            tx.execute(
                "INSERT INTO webhook_deliveries (endpoint_id, message_id, position, event_type,"
                " payload, status, attempts, next_attempt_at, created_at)"
                " VALUES (%s, %s, %s, %s, %s, 'pending', 0, %s, %s) ON CONFLICT DO NOTHING",
                (endpoint["id"], message_id, position, kind, payload, now, now),
            )


def _uuid(value: str | None) -> UUID | None:
    return UUID(value) if value else None


def _wants(endpoint: dict[str, Any], kind: str, subject: UUID, owners: Owners) -> bool:
    """Does the endpoint's filter match, and may its owner see the event at all?"""
    owner_scope = Scope.of(
        Actor(id=endpoint["owner_id"], realm=Realm(endpoint["owner_realm"]), role="webhook")
    )
    wanted = EventFilter(
        frozenset(json.loads(endpoint["event_types"])),
        _uuid(endpoint["subject"]),
        _uuid(endpoint["customer_id"]),
    )
    return sees_event(owner_scope, owners) and wanted.matches(kind, subject, owners)
