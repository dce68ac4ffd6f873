"""Webhook endpoints: where a subscriber wants events POSTed, and which ones."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.values import Secret


class WebhookEndpoint(SwitchlogAggregate):
    """A registered receiver URL with its filters and signing secret."""

    context = "webhooks"

    class Registered(SwitchlogAggregate.Created):
        # v1 stored the signing secret in clear text; v2 holds it as an encrypted Secret.
        class_version = 2

        url: str
        event_types: list[str]
        subject: UUID | None
        customer_id: UUID | None
        owner_id: str
        owner_realm: str
        secret: Secret

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["secret"] = Secret(state["secret"])

    def __init__(
        self,
        url: str,
        event_types: list[str],
        subject: UUID | None,
        customer_id: UUID | None,
        owner_id: str,
        owner_realm: str,
        secret: Secret,
    ) -> None:
        self.url = url
        self.event_types = event_types
        self.subject = subject
        self.customer_id = customer_id
        self.owner_id = owner_id
        self.owner_realm = owner_realm
        self.secret = secret
        self.status = "active"
        self.disabled_reason: str | None = None

    class Disabled(SwitchlogAggregate.Changed):
        fields = frozenset({"status", "disabled_reason"})

    class Deleted(SwitchlogAggregate.Changed):
        fields = frozenset({"status"})

    def disable(self, reason: str) -> None:
        """Stop deliveries (e.g. the receiver answered 410 Gone)."""
        if self.status == "active":
            self.change(self.Disabled, status="disabled", disabled_reason=reason)

    def delete(self) -> None:
        if self.status != "deleted":
            self.change(self.Deleted, status="deleted")
