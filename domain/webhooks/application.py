"""Webhook use cases: register, disable, delete."""

from __future__ import annotations

import base64
import secrets
from urllib.parse import urlsplit
from uuid import UUID

from domain.directory.access import Scope
from domain.shared.actor import CommandContext
from domain.shared.application import SwitchlogApplication
from domain.shared.errors import InvalidValueError, NotFoundError
from domain.shared.values import Secret
from domain.webhooks.aggregates import WebhookEndpoint


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidValueError("a webhook URL must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise InvalidValueError("a webhook URL must not carry credentials")
    return url


class WebhookService(SwitchlogApplication):
    """Endpoints subscribers register to receive signed event deliveries."""

    def register(
        self,
        ctx: CommandContext,
        url: str,
        event_types: list[str],
        subject: UUID | None,
        customer_id: UUID | None,
    ) -> tuple[UUID, str]:
        with self.command(ctx):
            secret = new_secret()
            endpoint = WebhookEndpoint(
                url=check_url(url),
                event_types=sorted(set(event_types)),
                subject=subject,
                customer_id=customer_id,
                owner_id=ctx.actor.id,
                owner_realm=ctx.actor.realm.value,
                secret=Secret(secret),
            )
            self.save(endpoint)
            return endpoint.id, secret

    def endpoint(self, ctx: CommandContext, endpoint_id: UUID) -> WebhookEndpoint:
        """The endpoint, if the actor owns it (admins see all)."""
        endpoint = self.load(endpoint_id, WebhookEndpoint)
        scope = Scope.of(ctx.actor)
        mine = endpoint.owner_id == ctx.actor.id or scope.unrestricted
        if not mine or endpoint.status == "deleted":
            raise NotFoundError(f"webhook {endpoint_id} not found")
        return endpoint

    def delete(self, ctx: CommandContext, endpoint_id: UUID) -> None:
        with self.command(ctx):
            endpoint = self.endpoint(ctx, endpoint_id)
            endpoint.delete()
            self.save(endpoint)

    def disable(self, ctx: CommandContext, endpoint_id: UUID, reason: str) -> None:
        """Called by the deliverer (system actor) when a receiver says it is gone."""
        with self.command(ctx):
            endpoint = self.load(endpoint_id, WebhookEndpoint)
            endpoint.disable(reason)
            self.save(endpoint)
