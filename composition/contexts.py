"""The bounded contexts, listed once: everything else is derived from this list.

The event registry, the runtime's services and projections, the API's routers and the
CLI's sub-commands all come from `CONTEXTS`. Adding a context means writing its folders
(domain/<name>/, its projection, router and CLI) and one descriptor here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from domain.directory.aggregates import Account, Admin, Customer, Reseller
from domain.directory.application import DirectoryService
from domain.shared.aggregate import SwitchlogAggregate
from domain.shared.application import SwitchlogApplication
from domain.shared.index import NameIndex
from domain.shared.registry import EventRegistry, install
from domain.webhooks.aggregates import WebhookEndpoint
from domain.webhooks.application import WebhookService

if TYPE_CHECKING:  # the runtime, routers and CLI import this module; they come in lazily
    import typer
    from fastapi import APIRouter

    from composition.runtime import Runtime
    from projections.base import Projection


@dataclass(frozen=True)
class Context:
    """One bounded context: what the composition root wires in for it.

    Routers, projections and CLI sub-apps are factories, called when the runtime, the API
    or the CLI is built, so listing a context connects nothing and imports no framework.
    """

    name: str  # the events' namespace, e.g. "directory" in directory.Customer.Created
    aggregates: Sequence[type[SwitchlogAggregate]] = ()
    service: type[SwitchlogApplication] | None = None
    projections: Callable[[Runtime], Sequence[Projection]] = field(default=lambda _: ())
    routers: Callable[[], Sequence[APIRouter]] = field(default=lambda: ())
    cli: Callable[[], Sequence[tuple[str, typer.Typer]]] = field(default=lambda: ())


# -- shared: name reservations, the audit trail, live events, operations -----------------
def _shared_projections(runtime: Runtime) -> Sequence[Projection]:
    from projections.audit import AuditProjection

    return [AuditProjection()]


def _shared_routers() -> Sequence[APIRouter]:
    from api import observability
    from api.routers import audit, events, health

    return [audit.router, events.router, health.router, observability.router]


# -- directory: admins, resellers, customers, accounts ---------------------------------
def _directory_projections(runtime: Runtime) -> Sequence[Projection]:
    from projections.directory import DirectoryProjection

    return [DirectoryProjection()]


def _directory_routers() -> Sequence[APIRouter]:
    from api.routers import accounts, auth, customers, resellers

    return [auth.router, resellers.router, customers.router, accounts.router]


def _directory_cli() -> Sequence[tuple[str, Any]]:
    from cli.admin import admin_app

    return [("admin", admin_app)]


# -- webhooks: signed deliveries of events to subscribers' URLs ------------------------
def _webhook_projections(runtime: Runtime) -> Sequence[Projection]:
    from projections.webhooks import WebhookProjection

    return [WebhookProjection(runtime.secrets, runtime.clock)]


def _webhook_routers() -> Sequence[APIRouter]:
    from api.routers import webhooks

    return [webhooks.router]


def _webhook_cli() -> Sequence[tuple[str, Any]]:
    from cli.webhooks import webhooks_app

    return [("webhooks", webhooks_app)]


SHARED = Context(
    "shared",
    aggregates=[NameIndex],
    projections=_shared_projections,
    routers=_shared_routers,
)
DIRECTORY = Context(
    "directory",
    aggregates=[Admin, Reseller, Customer, Account],
    service=DirectoryService,
    projections=_directory_projections,
    routers=_directory_routers,
    cli=_directory_cli,
)
WEBHOOKS = Context(
    "webhooks",
    aggregates=[WebhookEndpoint],
    service=WebhookService,
    projections=_webhook_projections,
    routers=_webhook_routers,
    cli=_webhook_cli,
)

CONTEXTS: tuple[Context, ...] = (SHARED, DIRECTORY, WEBHOOKS)

REGISTRY = install(EventRegistry({c.name: c.aggregates for c in CONTEXTS}))
