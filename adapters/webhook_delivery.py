"""Delivering the webhook outbox: signed the Standard Webhooks way, retried, dead-lettered.

A delivery is leased before it is sent, so several deliverer processes can share the outbox.
A receiver's 2xx marks it delivered (never sent again); 410 Gone disables the endpoint;
anything else is retried on the schedule and, when it runs out, parked as `failed` for an
operator to inspect and redeliver. Every retry of one message carries the same webhook-id.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from standardwebhooks.webhooks import Webhook

from adapters.net import check_public_target
from adapters.observability import WEBHOOK_DELIVERIES, FailureLog, correlation
from adapters.secrets import SecretBox
from adapters.sql import Database, Row
from domain.shared.actor import Actor, CommandContext
from domain.shared.aggregate import iso
from domain.shared.clock import SYSTEM_CLOCK, Clock
from domain.shared.errors import DomainError
from domain.webhooks.application import WebhookService

log = logging.getLogger(__name__)
PER_ENDPOINT = 4  # deliveries in flight per endpoint, so one slow receiver cannot hog all


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class DeliveryFailedError(RuntimeError):
    """A receiver did not take a delivery (its status or the transport error)."""


def _correlation_of(payload: str) -> str:
    try:
        return str(json.loads(payload).get("correlationid", "-"))
    except ValueError:
        return "-"


def signed_headers(
    secret: str, message_id: str, sent_at: datetime, payload: str, content_type: str
) -> dict[str, str]:
    """The Standard Webhooks headers of one delivery (webhooks and call state callbacks)."""
    return {
        "content-type": content_type,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, sent_at, payload),
    }


class WebhookDeliverer:
    def __init__(
        self,
        db: Database,
        webhooks: WebhookService,
        secrets: SecretBox,
        schedule: Sequence[float],
        timeout: float,
        allow_private: bool,
        clock: Clock = SYSTEM_CLOCK,
        workers: int = 8,
    ) -> None:
        self.db = db
        self.webhooks = webhooks
        self.secrets = secrets
        self.clock = clock
        self.schedule = list(schedule)
        self.timeout = timeout
        self.allow_private = allow_private
        self.workers = workers
        self._http = httpx.Client(timeout=timeout, follow_redirects=False)
        self._context = CommandContext(Actor.system("webhooks"))
        self.failures = FailureLog(log, "webhooks")

    def claim(self, limit: int = 100) -> list[Row]:
        """Lease the due deliveries (at most a few per endpoint)."""
        now = self.clock.now()
        with self.db.transaction() as tx:
            rows = tx.fetchall(
                "SELECT d.*, e.url, e.secret FROM webhook_deliveries d"
                " JOIN webhook_endpoints e ON e.id = d.endpoint_id"
                " WHERE d.status = 'pending' AND d.next_attempt_at <= %s"
                " AND (d.lease_until IS NULL OR d.lease_until < %s)"
                " ORDER BY d.position LIMIT %s",
                (iso(now), iso(now), limit * 4),
            )
            per_endpoint: Counter[str] = Counter()
            claimed = []
            for row in rows:
                per_endpoint[row["endpoint_id"]] += 1
                if per_endpoint[row["endpoint_id"]] <= PER_ENDPOINT and len(claimed) < limit:
                    claimed.append(row)
            lease = iso(now + timedelta(seconds=self.timeout + 30))
            for row in claimed:
                tx.execute(
                    "UPDATE webhook_deliveries SET lease_until = %s"
                    " WHERE endpoint_id = %s AND message_id = %s",
                    (lease, row["endpoint_id"], row["message_id"]),
                )
        return claimed

    def send(self, row: Row) -> Outcome:
        try:
            check_public_target(row["url"], self.allow_private)
        except DomainError as error:
            return Outcome(None, error.detail)
        try:
            headers = signed_headers(
                self.secrets.open(row["secret"]),
                row["message_id"],
                self.clock.now(),
                row["payload"],
                "application/cloudevents+json",
            )
        except Exception as error:  # a wrong key or a damaged secret: loud, and retried
            return Outcome(None, f"cannot sign: {type(error).__name__}: {error}"[:500])
        try:
            response = self._http.post(row["url"], content=row["payload"], headers=headers)
        except httpx.HTTPError as error:
            return Outcome(None, f"{type(error).__name__}: {error}"[:500])
        return Outcome(response.status_code, None if response.is_success else response.text[:500])

    def record(self, row: Row, outcome: Outcome) -> None:
        now = self.clock.now()
        attempts = int(row["attempts"]) + 1
        key = (row["endpoint_id"], row["message_id"])
        if outcome.delivered:
            status, next_at = "delivered", now
        elif outcome.status == 410:
            status, next_at = "gone", now
        elif attempts <= len(self.schedule):
            status, next_at = "pending", now + timedelta(seconds=self.schedule[attempts - 1])
        else:
            status, next_at = "failed", now
        self._observe(row, outcome, status)
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE webhook_deliveries SET status = %s, attempts = %s, next_attempt_at = %s,"
                " lease_until = NULL, last_status = %s, last_error = %s, delivered_at = %s"
                " WHERE endpoint_id = %s AND message_id = %s",
                (
                    status,
                    attempts,
                    iso(next_at),
                    outcome.status,
                    outcome.error,
                    iso(now) if outcome.delivered else None,
                    *key,
                ),
            )
        if status == "gone":
            log.warning("endpoint %s answered 410 Gone: disabling it", row["endpoint_id"])
            self.webhooks.disable(
                self._context, UUID(row["endpoint_id"]), "the receiver answered 410 Gone"
            )

    def _observe(self, row: Row, outcome: Outcome, status: str) -> None:
        outcome_name = {"delivered": "delivered", "failed": "dead"}.get(status, "failed")
        WEBHOOK_DELIVERIES.labels(outcome_name).inc()
        if outcome.delivered:
            return
        token = correlation.set(_correlation_of(row["payload"]))
        try:
            cause = outcome.error or f"HTTP {outcome.status}"
            what = f"delivery to endpoint {row['endpoint_id']} ({row['url']})"
            if status == "failed":
                log.error(
                    "%s: %s gave up after %s attempts",
                    what,
                    row["message_id"],
                    int(row["attempts"]) + 1,
                )
            self.failures.failed(what, DeliveryFailedError(cause))
        finally:
            correlation.reset(token)

    def run_once(self) -> int:
        rows = self.claim()
        if not rows:
            return 0
        with ThreadPoolExecutor(self.workers) as pool:
            for row, outcome in zip(rows, pool.map(self.send, rows), strict=True):
                self.record(row, outcome)
        return len(rows)

    def run(self, stop: threading.Event, poll_seconds: float = 0.25) -> None:
        while not stop.is_set():
            try:
                if self.run_once():
                    continue
            except Exception as error:
                self.failures.failed("a delivery round", error)
            stop.wait(poll_seconds)

    # -- operators -------------------------------------------------------------------
    def deliveries(self, status: str, endpoint_id: str | None = None) -> list[Row]:
        sql = "SELECT * FROM webhook_deliveries WHERE status = %s"
        params: list[Any] = [status]
        if endpoint_id:
            sql += " AND endpoint_id = %s"
            params.append(endpoint_id)
        with self.db.transaction(readonly=True) as tx:
            return tx.fetchall(sql + " ORDER BY position", params)

    def redeliver(self, endpoint_id: str | None = None, message_id: str | None = None) -> int:
        """Put dead-lettered deliveries back in the queue, with a fresh retry schedule."""
        sql = (
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0,"
            " next_attempt_at = %s, lease_until = NULL WHERE status = 'failed'"
        )
        params: list[Any] = [iso(self.clock.now())]
        for column, value in (("endpoint_id", endpoint_id), ("message_id", message_id)):
            if value:
                sql += f" AND {column} = %s"
                params.append(value)
        with self.db.transaction() as tx:
            return tx.execute(sql, params)

    def close(self) -> None:
        self._http.close()
