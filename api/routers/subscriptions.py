"""HTTP: subscription plans on products, account and reseller subscriptions, periodic fee
adjustments, and times without service (credited by the charger)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from api.deps import ContextDep, RuntimeDep
from api.openapi import created, link, problems
from api.routers.common import Limit, Offset
from api.routing import ProblemRoute
from api.schemas import Page
from api.subscription_schemas import (
    AdjustmentSet,
    OutageCreate,
    OutageEnd,
    OutagePublic,
    PlanCreate,
    PlanEdit,
    PlanPublic,
    SubscriptionCreate,
    SubscriptionEnd,
    SubscriptionPublic,
)
from composition.billing import service
from composition.runtime import Runtime
from domain.billing.subscriptions import RESELLER_LEVEL, PlanSpec, SubscriptionPlan
from domain.directory.access import Scope
from domain.shared.actor import CommandContext
from domain.shared.errors import NotFoundError
from domain.shared.permissions import Access, Section
from projections.subscriptions import SubscriptionQueries

router = APIRouter(route_class=ProblemRoute, tags=["subscriptions"])
PLAN = "/v1/subscription-plans/{plan_id}"
SUB = "/v1/subscriptions/{subscription_id}"


def _queries(runtime: Runtime) -> SubscriptionQueries:
    return SubscriptionQueries(runtime.db)


def _shown(runtime: Runtime, check: Any) -> Any:
    return runtime.read_your_writes("subscriptions", check)


# -- plans ------------------------------------------------------------------------------
@router.post(
    "/v1/subscription-plans",
    status_code=201,
    response_model=PlanPublic,
    responses=created(403, 404, 409, 422, GetPlan=link("get", PLAN, plan_id="$response.body#/id")),
)
def create_plan(body: PlanCreate, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """Create a subscription plan on a product (admins; a reseller: its own account plans)."""
    spec = PlanSpec(**{**body.model_dump(), "fee": Decimal(body.fee)})
    spec = PlanSpec(**{**spec.__dict__, "credit_conditions": tuple(body.credit_conditions)})
    plan_id = service(runtime).create_plan(ctx, spec)
    return _plan(runtime, plan_id, 1)


def _plan(runtime: Runtime, plan_id: UUID, version: int) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        row = _queries(runtime).plan(str(plan_id))
        return row if row is not None and int(row["version"]) >= version else None

    row = _shown(runtime, check) or _queries(runtime).plan(str(plan_id))
    if row is None:
        raise NotFoundError(f"plan {plan_id} not found")
    return _with_fees(runtime, row)


def _with_fees(runtime: Runtime, row: dict[str, Any]) -> dict[str, Any]:
    changes = _queries(runtime).plan_fees(str(row["id"]))
    return {**row, "fee_changes": [c for c in changes if c["effective"] is not None]}


def _readable_plan(runtime: Runtime, ctx: CommandContext, plan_id: UUID) -> dict[str, Any]:
    ctx.require(Section.BILLING, Access.READ)
    scope = Scope.of(ctx.actor)
    row = _queries(runtime).plan(str(plan_id))
    visible = row is not None and (
        scope.unrestricted
        or (
            scope.reseller_id is not None
            and row["level"] == "account"
            and (
                row["managed_by"] == str(scope.reseller_id)
                or (row["managed_by"] is None and row["shared_with_resellers"])
            )
        )
    )
    if not visible:
        raise NotFoundError(f"plan {plan_id} not found")
    return _with_fees(runtime, row)  # type: ignore[arg-type]


@router.get("/v1/subscription-plans", response_model=Page[PlanPublic], responses=problems(403))
def list_plans(
    runtime: RuntimeDep, ctx: ContextDep, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """The plans the caller may apply (admins: all; a reseller: shared ones and its own)."""
    ctx.require(Section.BILLING, Access.READ)
    scope = Scope.of(ctx.actor)
    scope.require_reseller_or_admin()
    items, next_offset = _queries(runtime).plans(scope, limit, offset)
    return {"items": [_with_fees(runtime, row) for row in items], "next": next_offset}


@router.get(PLAN, response_model=PlanPublic, responses=problems(403, 404))
def get_plan(plan_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """One subscription plan."""
    return _readable_plan(runtime, ctx, plan_id)


@router.patch(PLAN, response_model=PlanPublic, responses=problems(403, 404, 409, 422))
def edit_plan(
    plan_id: UUID, body: PlanEdit, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Change the plan's fee from `effective` (default now), its name or the conditions it
    credits, with a reason. Periods charged after the change use the new fee; in advance,
    a period already charged gets a correction for its days from the change's day on, and
    in arrears each day is charged at its own fee (a multi-month prepaid term is not
    corrected: the next term pays the new fee)."""
    billing = service(runtime)
    billing.edit_plan(
        ctx,
        plan_id,
        body.reason,
        fee=Decimal(body.fee) if body.fee is not None else None,
        effective=body.effective,
        name=body.name,
        credit_conditions=body.credit_conditions,
    )
    return _plan(runtime, plan_id, int(billing.load(plan_id, SubscriptionPlan).version))


@router.delete(PLAN, status_code=204, responses=problems(403, 404, 409))
def remove_plan(plan_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> Response:
    """Remove a plan: its subscriptions end now (reseller subscriptions too)."""
    service(runtime).remove_plan(ctx, plan_id)
    _shown(
        runtime,
        lambda: (row := _queries(runtime).plan(str(plan_id))) and row["status"] == "removed",
    )
    return Response(status_code=204)


# -- subscriptions ----------------------------------------------------------------------
def _visible(ctx: CommandContext, row: dict[str, Any] | None) -> bool:
    if row is None:
        return False
    scope = Scope.of(ctx.actor)
    if row["level"] == RESELLER_LEVEL:  # the operator's price to the reseller
        return scope.unrestricted or str(scope.reseller_id) == row["reseller_id"]
    reseller = UUID(row["reseller_id"]) if row["reseller_id"] else None
    return scope.sees_account(UUID(row["account_id"]), UUID(row["customer_id"]), reseller)


def _subscription(
    runtime: Runtime, ctx: CommandContext, subscription_id: UUID, version: int | None = None
) -> dict[str, Any]:
    """The row; after a write (`version`), once the read model shows that version."""

    def check() -> dict[str, Any] | None:
        row = _queries(runtime).subscription(str(subscription_id))
        return row if row is not None and int(row["version"]) >= (version or 1) else None

    row = _shown(runtime, check) if version is not None else None
    row = row or _queries(runtime).subscription(str(subscription_id))
    if not _visible(ctx, row):
        raise NotFoundError(f"subscription {subscription_id} not found")
    return row  # type: ignore[return-value]


@router.post(
    "/v1/accounts/{account_id}/subscriptions",
    status_code=201,
    response_model=SubscriptionPublic,
    responses=created(
        403,
        404,
        409,
        422,
        GetSubscription=link("get", SUB, subscription_id="$response.body#/id"),
        AdjustSubscription=link("post", f"{SUB}/adjustments", subscription_id="$response.body#/id"),
    ),
)
def subscribe(
    account_id: UUID, body: SubscriptionCreate, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Apply a plan to an account holding its product (a reseller plan: admins only)."""
    made = service(runtime).subscribe(ctx, account_id, body.plan_id, body.start)
    return _subscription(runtime, ctx, made, 1)


@router.get(
    "/v1/accounts/{account_id}/subscriptions",
    response_model=Page[SubscriptionPublic],
    responses=problems(403, 404),
)
def list_subscriptions(
    account_id: UUID, runtime: RuntimeDep, ctx: ContextDep, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """The account's subscriptions (its reseller's too, for admins and the reseller)."""
    ctx.require(Section.BILLING, Access.READ)
    scope = Scope.of(ctx.actor)
    account = runtime.directory_queries.get("accounts", scope, str(account_id))
    if account is None:
        raise NotFoundError(f"account {account_id} not found")
    levels = ["account"]
    if scope.unrestricted or scope.reseller_id is not None:
        levels.append(RESELLER_LEVEL)
    rows = [r for r in _queries(runtime).of_account(str(account_id), levels) if _visible(ctx, r)]
    page = rows[offset : offset + limit]
    return {"items": page, "next": offset + limit if len(rows) > offset + limit else None}


@router.get(SUB, response_model=SubscriptionPublic, responses=problems(403, 404))
def get_subscription(subscription_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """One subscription, with its adjustment and, once ended, when and why."""
    ctx.require(Section.BILLING, Access.READ)
    return _subscription(runtime, ctx, subscription_id)


@router.post(
    f"{SUB}/adjustments", response_model=SubscriptionPublic, responses=problems(403, 404, 409, 422)
)
def adjust(
    subscription_id: UUID, body: AdjustmentSet, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Set the subscription's periodic fee adjustment (it replaces any earlier one):
    relative discount (100 = free) or upcharge in percent, fixed discount or upcharge."""
    billing = service(runtime)
    billing.adjust_subscription(ctx, subscription_id, body.kind, Decimal(body.value))
    return _subscription(runtime, ctx, subscription_id, _version(runtime, subscription_id))


@router.delete(
    f"{SUB}/adjustments", response_model=SubscriptionPublic, responses=problems(403, 404, 409)
)
def remove_adjustment(
    subscription_id: UUID, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Charge the plan's fee again."""
    service(runtime).adjust_subscription(ctx, subscription_id, None, None)
    return _subscription(runtime, ctx, subscription_id, _version(runtime, subscription_id))


@router.post(
    f"{SUB}/end", response_model=SubscriptionPublic, responses=problems(403, 404, 409, 422)
)
def end(
    subscription_id: UUID, body: SubscriptionEnd, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """End the subscription (default now): charges stop, a prorated refund in advance."""
    service(runtime).end_subscription(ctx, subscription_id, body.end)
    return _subscription(runtime, ctx, subscription_id, _version(runtime, subscription_id))


def _version(runtime: Runtime, subscription_id: UUID) -> int:
    from domain.billing.subscriptions import Subscription

    return int(service(runtime).load(subscription_id, Subscription).version)


# -- times without service ----------------------------------------------------------------
@router.post(
    "/v1/service-outages",
    status_code=201,
    response_model=OutagePublic,
    responses=problems(403, 404, 422),
)
def record_outage(body: OutageCreate, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """Record a time without service (expired, suspended, blocked customer, no funds) that
    subscriptions credit by whole days (admins). Account blocks are recorded by themselves."""
    made = service(runtime).record_outage(
        ctx, body.condition, body.customer_id, body.account_id, body.start, body.end
    )
    _shown(runtime, lambda: _queries(runtime).outage(str(made)))
    return {"id": made}


@router.post(
    "/v1/service-outages/{outage_id}/end",
    response_model=OutagePublic,
    responses=problems(403, 404, 409, 422),
)
def end_outage(
    outage_id: UUID, body: OutageEnd, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Service is back."""
    service(runtime).end_outage(ctx, outage_id, body.end)
    _shown(runtime, lambda: (row := _queries(runtime).outage(str(outage_id))) and row["end_at"])
    return {"id": outage_id}
