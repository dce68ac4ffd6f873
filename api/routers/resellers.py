"""Resellers: companies that sell the service to their own resellers."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from api.contributions import edit
from api.deps import ContextDep, ExpectedVersionDep, RuntimeDep, ScopeDep
from api.openapi import body_link, created, link, problems
from api.routers.common import (
    ACCEPTED,
    EDIT_RESPONSES,
    Limit,
    NameFilter,
    Offset,
    Status,
    fresh_row,
    page,
    visible_row,
)
from api.routing import ProblemRoute
from api.schemas import Page, ResellerCreate, ResellerPublic, ResellerUpdate

router = APIRouter(prefix="/v1/resellers", tags=["resellers"], route_class=ProblemRoute)
TABLE = "resellers"
ITEM = "/v1/resellers/{reseller_id}"
BY_ID = {"reseller_id": "$response.body#/id"}


@router.get("", response_model=Page[ResellerPublic])
def list_resellers(
    runtime: RuntimeDep,
    scope: ScopeDep,
    status: Status | None = None,
    name: NameFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """List the resellers the caller may see."""
    filters = {"status": status, "name": name}
    return page(
        runtime, TABLE, *runtime.directory_queries.list(TABLE, scope, filters, limit, offset)
    )


@router.post(
    "",
    status_code=201,
    response_model=ResellerPublic,
    responses={
        **ACCEPTED,
        **created(
            403,
            409,
            GetReseller=link("get", ITEM, **BY_ID),
            UpdateReseller=link("patch", ITEM, **BY_ID),
            CloseReseller=link("post", f"{ITEM}/close", **BY_ID),
            CreateCustomer=body_link("post", "/v1/customers", reseller_id="$response.body#/id"),
        ),
    },
)
def create_reseller(
    body: ResellerCreate, runtime: RuntimeDep, ctx: ContextDep, scope: ScopeDep, response: Response
) -> dict[str, Any]:
    """Create a reseller (admins only)."""
    reseller_id = runtime.directory.create_reseller(ctx, **body.model_dump())
    return fresh_row(runtime, TABLE, scope, reseller_id, response)


@router.get("/{reseller_id}", response_model=ResellerPublic, responses=problems(404))
def get_reseller(
    reseller_id: UUID, runtime: RuntimeDep, scope: ScopeDep, response: Response
) -> dict[str, Any]:
    """One reseller."""
    return visible_row(runtime, TABLE, scope, reseller_id, response)


@router.patch(
    "/{reseller_id}",
    response_model=ResellerPublic,
    responses=EDIT_RESPONSES,
)
def update_reseller(
    reseller_id: UUID,
    body: ResellerUpdate,
    runtime: RuntimeDep,
    ctx: ContextDep,
    scope: ScopeDep,
    expected: ExpectedVersionDep,
    response: Response,
) -> dict[str, Any]:
    """Change some of a reseller's fields; `If-Match` makes it conditional."""
    version = edit(
        runtime,
        ctx,
        TABLE,
        reseller_id,
        body.model_dump(exclude_unset=True),
        lambda own: runtime.directory.update_reseller(ctx, reseller_id, expected, **own),
    )
    return fresh_row(runtime, TABLE, scope, reseller_id, response, version)


@router.post(
    "/{reseller_id}/close",
    response_model=ResellerPublic,
    responses=EDIT_RESPONSES,
)
def close_reseller(
    reseller_id: UUID,
    runtime: RuntimeDep,
    ctx: ContextDep,
    scope: ScopeDep,
    expected: ExpectedVersionDep,
    response: Response,
) -> dict[str, Any]:
    """Close a reseller; its login stops working."""
    version = runtime.directory.close_reseller(ctx, reseller_id, expected)
    return fresh_row(runtime, TABLE, scope, reseller_id, response, version)
