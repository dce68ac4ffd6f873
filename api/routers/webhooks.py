"""Webhook endpoints: register a URL with filters; deliveries are signed and retried."""

from __future__ import annotations

import json
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, UrlConstraints

from adapters.net import check_public_target
from api.deps import ContextDep, RuntimeDep, ScopeDep
from api.openapi import created, link, problems
from api.routing import ProblemRoute
from composition.runtime import Runtime
from domain.directory.access import EventFilter
from domain.webhooks.aggregates import WebhookEndpoint

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], route_class=ProblemRoute)
ITEM = "/v1/webhooks/{webhook_id}"
BY_ID = {"webhook_id": "$response.body#/id"}
EventType = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[AnyHttpUrl, UrlConstraints(max_length=2048)]
    event_types: list[EventType] | None = Field(
        None, max_length=100, description="Event types; all when omitted"
    )
    subject: UUID | None = Field(None, description="Only this aggregate's events")
    customer: UUID | None = Field(None, description="Only this customer's events")


class WebhookPublic(BaseModel):
    id: UUID
    url: str
    event_types: list[str]
    subject: UUID | None
    customer: UUID | None
    status: str
    disabled_reason: str | None = None


class WebhookCreated(WebhookPublic):
    secret: Annotated[str, Field(description="whsec_... : verify deliveries with it")]


def _public(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": endpoint.event_types,
        "subject": endpoint.subject,
        "customer": endpoint.customer_id,
        "status": endpoint.status,
        "disabled_reason": endpoint.disabled_reason,
    }


def _await_status(runtime: Runtime, endpoint_id: UUID, status: str) -> None:
    """Read-your-writes: the webhooks read model (which feeds the outbox) shows the change."""

    def shown() -> bool | None:
        with runtime.db.transaction(readonly=True) as tx:
            row = tx.fetchone(
                "SELECT status FROM webhook_endpoints WHERE id = %s", (str(endpoint_id),)
            )
        return True if row is not None and row["status"] == status else None

    runtime.read_your_writes("webhooks", shown)


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    responses=created(
        400,
        403,
        GetWebhook=link("get", ITEM, **BY_ID),
        DeleteWebhook=link("delete", ITEM, **BY_ID),
    ),
)
def register_webhook(
    body: WebhookCreate, runtime: RuntimeDep, ctx: ContextDep, scope: ScopeDep
) -> dict[str, Any]:
    """Register a receiver; the answer carries the signing secret, shown only once."""
    url = str(body.url)
    check_public_target(url, runtime.settings.webhooks_allow_private_networks)
    wanted = EventFilter.parse(
        {"types": body.event_types, "subject": body.subject, "customer": body.customer}
    )
    wanted.authorize(scope, runtime.directory.owners_of)
    endpoint_id, secret = runtime.webhooks.register(
        ctx, url, sorted(wanted.types), wanted.subject, wanted.customer_id
    )
    _await_status(runtime, endpoint_id, "active")
    return {**_public(runtime.webhooks.endpoint(ctx, endpoint_id)), "secret": secret}


@router.get("", response_model=list[WebhookPublic])
def list_webhooks(runtime: RuntimeDep, ctx: ContextDep, scope: ScopeDep) -> list[dict[str, Any]]:
    """The caller's endpoints (admins: all)."""
    sql = "SELECT * FROM webhook_endpoints WHERE status != 'deleted'"
    params: list[Any] = []
    if not scope.unrestricted:
        sql += " AND owner_id = %s"
        params.append(ctx.actor.id)
    with runtime.db.transaction(readonly=True) as tx:
        rows = tx.fetchall(sql + " ORDER BY created_at", params)
    return [
        {**row, "event_types": json.loads(row["event_types"]), "customer": row["customer_id"]}
        for row in rows
    ]


@router.get("/{webhook_id}", response_model=WebhookPublic, responses=problems(404))
def get_webhook(webhook_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """One endpoint, with its status (a 410 from the receiver disables it)."""
    return _public(runtime.webhooks.endpoint(ctx, webhook_id))


@router.delete("/{webhook_id}", status_code=204, responses=problems(404))
def delete_webhook(webhook_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> Response:
    """Stop deliveries to an endpoint; pending ones are cancelled."""
    runtime.webhooks.delete(ctx, webhook_id)
    _await_status(runtime, webhook_id, "deleted")
    return Response(status_code=204)
