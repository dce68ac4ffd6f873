"""The bounded contexts, listed once: everything else is derived from this list.

The event registry, the runtime's services and projections, the API's routers and the
CLI's sub-commands all come from `CONTEXTS`. Adding a context means writing its folders
(domain/<name>/, its projection, router and CLI) and one descriptor here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

from pydantic import Field

from composition import balances, billing, provisioning
from domain.billing import aggregates as billing_aggregates
from domain.billing import balances as billing_balances
from domain.billing import invoices as billing_invoices
from domain.billing import subscriptions, xdrs
from domain.billing.application import BillingService
from domain.calls import calls, legs, queues
from domain.calls.application import CallsService
from domain.calls.secrets import CallbackSecret
from domain.directory import individuals, roles
from domain.directory.aggregates import Account, Admin, Customer, Reseller
from domain.directory.application import DirectoryService
from domain.provisioning import cpe, extensions
from domain.provisioning.aggregates import CustomerNumber
from domain.provisioning.application import MAX_NUMBER, ProvisioningService
from domain.shared.actor import CommandContext
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
class Contribution:
    """A field one context adds to another context's resource: the resource's GET shows it
    and its PATCH accepts it, while the field's events belong to the contributing context.

    `read` gives the values for a page of rows (one query, not one per row); `write` runs
    the contributing context's command and returns a check that its read model shows it
    (None: the field is read-only). `create`, if set, runs in the transaction that creates
    a row, with the body's value (None when absent) and the row's own fields.
    """

    resource: str  # the API resource, e.g. "customers"
    field: str  # e.g. "number"
    annotation: Any  # its type in the resource's schemas
    description: str
    read: Callable[[Runtime, Sequence[str]], dict[str, Any]]
    write: Callable[[Runtime, CommandContext, UUID, Any], Callable[[], bool]] | None = None
    create: (
        Callable[[Runtime, CommandContext, UUID, Any, dict[str, Any]], Callable[[], bool]] | None
    ) = None


@dataclass(frozen=True)
class Context:
    """One bounded context: what the composition root wires in for it.

    Routers, projections and CLI sub-apps are factories, called when the runtime, the API
    or the CLI is built, so listing a context connects nothing and imports neither the web
    framework nor the CLI's.
    """

    name: str  # the events' namespace, e.g. "directory" in directory.Customer.Created
    aggregates: Sequence[type[SwitchlogAggregate]] = ()
    service: type[SwitchlogApplication] | None = None
    projections: Callable[[Runtime], Sequence[Projection]] = field(default=lambda _: ())
    routers: Callable[[], Sequence[APIRouter]] = field(default=lambda: ())
    cli: Callable[[], Sequence[tuple[str, typer.Typer]]] = field(default=lambda: ())
    contributes: Sequence[Contribution] = ()


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
    from projections.access import AccessProjection, CredentialsOutbox
    from projections.directory import DirectoryProjection

    return [
        DirectoryProjection(),
        AccessProjection(),
        CredentialsOutbox(runtime.secrets, runtime.clock),
    ]


def _directory_routers() -> Sequence[APIRouter]:
    from api.routers import accounts, auth, customers, individuals, resellers, roles

    return [
        auth.router,
        resellers.router,
        customers.router,
        accounts.router,
        roles.router,
        individuals.router,
    ]


def _directory_cli() -> Sequence[tuple[str, Any]]:
    from cli.admin import admin_app
    from cli.individuals import individuals_app

    return [("admin", admin_app), ("individuals", individuals_app)]


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


# -- provisioning: numbers, products, agreements, extensions, phones ---------------------
def _provisioning_projections(runtime: Runtime) -> Sequence[Projection]:
    from projections import cpe, extensions
    from projections.provisioning import ProvisioningProjection

    return [ProvisioningProjection(), *extensions.projections(), *cpe.projections()]


def _provisioning_routers() -> Sequence[APIRouter]:
    from api.routers import cpe, extensions

    return [extensions.router, cpe.router]


def _provisioning_cli() -> Sequence[tuple[str, Any]]:
    from cli.cpe import cpe_app

    return [("cpe", cpe_app)]


PROVISIONING = Context(
    "provisioning",
    aggregates=[CustomerNumber, *extensions.AGGREGATES, *cpe.AGGREGATES],
    service=ProvisioningService,
    projections=_provisioning_projections,
    routers=_provisioning_routers,
    cli=_provisioning_cli,
    contributes=[
        Contribution(
            "customers",
            "number",
            Annotated[int, Field(ge=1, le=MAX_NUMBER)] | None,
            "The customer's number (PortaBilling's i_customer), assigned once and never"
            " reused: an admin may give it at creation, else the next free one is assigned",
            provisioning.read_numbers,
            provisioning.write_number,
            provisioning.create_number,
        ),
        Contribution(
            "accounts",
            "product_id",
            UUID | None,
            "The account's main product (provisioning's; within the customer's agreement)",
            provisioning.read_account_field("product_id"),
            provisioning.write_main_product,
        ),
        Contribution(
            "accounts",
            "products",
            list[UUID] | None,
            "Every product the account holds, main and add-on (read-only)",
            provisioning.read_account_field("products"),
        ),
        Contribution(
            "accounts",
            "blocked",
            bool | None,
            "A blocked account may not log in or place calls (read-only; POST .../block)",
            provisioning.read_account_field("blocked"),
        ),
        Contribution(
            "accounts",
            "blocked_by",
            str | None,
            "The realm that blocked the account; a realm below it cannot unblock it",
            provisioning.read_account_field("blocked_by"),
        ),
    ],
)


SHARED = Context(
    "shared",
    aggregates=[NameIndex],
    projections=_shared_projections,
    routers=_shared_routers,
)
DIRECTORY = Context(
    "directory",
    aggregates=[Admin, Reseller, Customer, Account, *roles.AGGREGATES, *individuals.AGGREGATES],
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


# -- calls: legs as events, the call model and call control -----------------------------
def _calls_projections(runtime: Runtime) -> Sequence[Projection]:
    from projections.call_queues import CallQueuesProjection
    from projections.calls import CallbackOutbox, CallsProjection

    return [
        CallsProjection(),
        CallQueuesProjection(),
        CallbackOutbox(runtime.secrets, runtime.clock),
    ]


def _calls_routers() -> Sequence[APIRouter]:
    from api.routers import call_control, call_queues, calls, network

    return [call_control.router, calls.router, call_queues.router, network.router]


def _calls_cli() -> Sequence[tuple[str, Any]]:
    from cli.calls import calls_app

    return [("calls", calls_app)]


CALLS = Context(
    "calls",
    aggregates=[*legs.AGGREGATES, *calls.AGGREGATES, *queues.AGGREGATES, CallbackSecret],
    service=CallsService,
    projections=_calls_projections,
    routers=_calls_routers,
    cli=_calls_cli,
)


# -- billing: customer classes, tariffs, rating legs into xDRs --------------------------
def _billing_projections(runtime: Runtime) -> Sequence[Projection]:
    from projections.balances import BalancesProjection
    from projections.billing import BillingProjection
    from projections.invoices import InvoicesProjection
    from projections.subscriptions import SubscriptionsProjection

    return [
        BillingProjection(),
        SubscriptionsProjection(),
        InvoicesProjection(),
        BalancesProjection(),
    ]


def _billing_routers() -> Sequence[APIRouter]:
    from api.routers import balances as balance_routes
    from api.routers import billing as billing_routes
    from api.routers import bundles as bundle_routes
    from api.routers import invoices as invoice_routes
    from api.routers import subscriptions as subscription_routes

    return [
        billing_routes.router,
        subscription_routes.router,
        invoice_routes.router,
        balance_routes.router,
        bundle_routes.router,
    ]


def _billing_cli() -> Sequence[tuple[str, Any]]:
    from cli.billing import billing_app

    return [("billing", billing_app)]


BILLING = Context(
    "billing",
    aggregates=[
        billing_aggregates.CustomerClass,
        billing_aggregates.Tariff,
        billing_aggregates.CustomerBilling,
        billing_aggregates.ProductBilling,
        billing_aggregates.ResellerBilling,
        billing_aggregates.CustomerBillingCycle,
        billing_aggregates.BundlePromotion,
        billing_aggregates.ProductBundle,
        xdrs.Leg,
        billing_invoices.BillingPeriod,
        billing_invoices.Invoice,
        billing_invoices.ResellerBillingPeriod,
        billing_invoices.ResellerInvoice,
        billing_invoices.ReprocessJob,
        *subscriptions.AGGREGATES,
        *billing_balances.AGGREGATES,
    ],
    service=BillingService,
    projections=_billing_projections,
    routers=_billing_routers,
    cli=_billing_cli,
    contributes=[
        Contribution(
            "customers",
            "customer_class_id",
            UUID | None,
            "The customer's class: its rounding method and precisions (none: away from zero"
            " at 2 decimals for invoices and usage)",
            billing.read_customer_classes,
            billing.write_customer_class,
        ),
        Contribution(
            "customers",
            "billing_period",
            billing.BillingPeriodKind | None,
            "How the customer's invoices are cut: monthly (the default), weekly (ISO weeks) or"
            " daily, in its zone. A change takes effect where the period in progress ends",
            billing.read_customer_billing_periods,
            billing.write_customer_billing_period,
            billing.create_customer_billing_period,
        ),
        Contribution(
            "customers",
            "payment_terms",
            balances.PaymentTermsFields | None,
            "How the customer pays: `mode` prepaid or postpaid (the default), and"
            ' `credit_limit` (prepaid "0" by default: spend what was paid; postpaid null: no'
            " limit). Admins and its reseller",
            balances.read_payment_terms,
            balances.write_payment_terms,
        ),
        Contribution(
            "products",
            "tariff_id",
            UUID | None,
            "The tariff that rates calls of accounts holding this product",
            billing.read_product_tariffs,
            billing.write_product_tariff,
        ),
        Contribution(
            "products",
            "bundle_promotion_id",
            UUID | None,
            "The bundle promotion whose included minutes cover calls of accounts holding"
            " this product first (null detaches it)",
            billing.read_product_bundles,
            billing.write_product_bundle,
        ),
        Contribution(
            "resellers",
            "billing",
            billing.ResellerBillingFields | None,
            "The reseller's currency, time zone, billing period and own tariff (billing's)",
            billing.read_reseller_billing,
            billing.write_reseller_billing,
        ),
    ],
)

CONTEXTS: tuple[Context, ...] = (SHARED, DIRECTORY, WEBHOOKS, PROVISIONING, CALLS, BILLING)


def contributions(resource: str) -> list[Contribution]:
    """The fields other contexts add to an API resource."""
    return [c for context in CONTEXTS for c in context.contributes if c.resource == resource]


REGISTRY = install(EventRegistry({c.name: c.aggregates for c in CONTEXTS}))
