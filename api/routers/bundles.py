"""HTTP: bundle promotions (minutes included per period to destination prefixes, free or
at a discount); `PATCH /v1/products/{id}` attaches one (`bundle_promotion_id`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

from api.billing_schemas import Precision
from api.deps import ContextDep, RuntimeDep
from api.openapi import created, link, problems
from api.routers.common import Limit, Offset
from api.routing import ProblemRoute
from api.schemas import Name, Page, Strict
from composition.billing import queries, service
from domain.directory.access import Scope
from domain.shared.actor import CommandContext
from domain.shared.errors import NotFoundError
from domain.shared.permissions import Access, Section

router = APIRouter(route_class=ProblemRoute)
BUNDLE = "/v1/bundle-promotions/{bundle_id}"


class IncludedIn(Strict):
    prefix: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,15}$")] = Field(
        examples=["1209"], description="Destination prefix (E.164 digits, longest match)"
    )
    minutes: int = Field(ge=1, le=1_000_000, description="Minutes included per period")
    discount_percent: int = Field(
        100, ge=0, le=100, description="Off the tariff's price (100: free)"
    )


class BundleCreate(Strict):
    name: Name
    precision: Precision = 2
    period: Literal["monthly", "weekly", "daily"] = "monthly"
    included: list[IncludedIn] = Field(min_length=1, max_length=1000)


class Included(BaseModel):
    prefix: str
    minutes: int
    discount_percent: int


class BundlePublic(BaseModel):
    id: UUID
    name: str
    precision: int = Field(description="Decimals of an xDR any of whose seconds it covers")
    period: str
    included: list[Included]
    version: int
    created_at: datetime


def _staff(ctx: CommandContext) -> None:
    """The operator's catalogue: admins (and resellers, who sell it) read it."""
    ctx.require(Section.BILLING, Access.READ)
    Scope.of(ctx.actor).require_reseller_or_admin()


@router.post(
    "/v1/bundle-promotions",
    tags=["billing"],
    status_code=201,
    response_model=BundlePublic,
    responses=created(403, 409, 422, GetBundle=link("get", BUNDLE, bundle_id="$response.body#/id")),
)
def create_bundle(body: BundleCreate, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """Create a bundle promotion (admins); its own fee is a subscription plan on the same
    product."""
    bundle_id = service(runtime).create_bundle_promotion(
        ctx,
        body.name,
        body.precision,
        body.period,
        [line.model_dump() for line in body.included],
    )
    found = runtime.read_your_writes(
        "billing", lambda: queries(runtime).bundle(str(bundle_id)) or None
    )
    return found or _bundle(runtime, bundle_id)


def _bundle(runtime: Any, bundle_id: UUID) -> dict[str, Any]:
    row = queries(runtime).bundle(str(bundle_id))
    if row is None:
        raise NotFoundError(f"bundle promotion {bundle_id} not found")
    return row


@router.get(
    "/v1/bundle-promotions",
    tags=["billing"],
    response_model=Page[BundlePublic],
    responses=problems(403),
)
def list_bundles(
    runtime: RuntimeDep, ctx: ContextDep, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """The bundle promotions (admins and resellers)."""
    _staff(ctx)
    items, next_offset = queries(runtime).bundles(limit, offset)
    return {"items": items, "next": next_offset}


@router.get(BUNDLE, tags=["billing"], response_model=BundlePublic, responses=problems(403, 404))
def get_bundle(bundle_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """One bundle promotion."""
    _staff(ctx)
    return _bundle(runtime, bundle_id)
