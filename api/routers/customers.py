"""Customers: billed subjects, directly or under a reseller."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from api.contributions import create, edit
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
from api.schemas import CustomerCreate, CustomerPublic, CustomerUpdate, Page

router = APIRouter(prefix="/v1/customers", tags=["customers"], route_class=ProblemRoute)
TABLE = "customers"
ITEM = "/v1/customers/{customer_id}"
BY_ID = {"customer_id": "$response.body#/id"}


@router.get("", response_model=Page[CustomerPublic])
def list_customers(
    runtime: RuntimeDep,
    scope: ScopeDep,
    reseller_id: UUID | None = None,
    status: Status | None = None,
    name: NameFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """List the customers the caller may see."""
    filters = {"reseller_id": reseller_id, "status": status, "name": name}
    return page(
        runtime, TABLE, *runtime.directory_queries.list(TABLE, scope, filters, limit, offset)
    )


@router.post(
    "",
    status_code=201,
    response_model=CustomerPublic,
    responses={
        **ACCEPTED,
        **created(
            403,
            404,
            409,
            GetCustomer=link("get", ITEM, **BY_ID),
            UpdateCustomer=link("patch", ITEM, **BY_ID),
            CloseCustomer=link("post", f"{ITEM}/close", **BY_ID),
            CreateAccount=body_link("post", "/v1/accounts", customer_id="$response.body#/id"),
            GetSubjectAsOf=link(
                "get", "/v1/audit/subjects/{subject}", subject="$response.body#/id"
            ),
        ),
    },
)
def create_customer(
    body: CustomerCreate, runtime: RuntimeDep, ctx: ContextDep, scope: ScopeDep, response: Response
) -> dict[str, Any]:
    """Create a customer (a reseller creates it under itself); it gets its number."""
    customer_id = create(
        runtime,
        ctx,
        TABLE,
        body.model_dump(),
        lambda own: runtime.directory.create_customer(ctx, **own),
    )
    return fresh_row(runtime, TABLE, scope, customer_id, response)


@router.get("/{customer_id}", response_model=CustomerPublic, responses=problems(404))
def get_customer(
    customer_id: UUID, runtime: RuntimeDep, scope: ScopeDep, response: Response
) -> dict[str, Any]:
    """One customer."""
    return visible_row(runtime, TABLE, scope, customer_id, response)


@router.patch(
    "/{customer_id}",
    response_model=CustomerPublic,
    responses=EDIT_RESPONSES,
)
def update_customer(
    customer_id: UUID,
    body: CustomerUpdate,
    runtime: RuntimeDep,
    ctx: ContextDep,
    scope: ScopeDep,
    expected: ExpectedVersionDep,
    response: Response,
) -> dict[str, Any]:
    """Change some of a customer's fields; `If-Match` makes it conditional."""
    version = edit(
        runtime,
        ctx,
        TABLE,
        customer_id,
        body.model_dump(exclude_unset=True),
        lambda own: runtime.directory.update_customer(ctx, customer_id, expected, **own),
    )
    return fresh_row(runtime, TABLE, scope, customer_id, response, version)


@router.post(
    "/{customer_id}/close",
    response_model=CustomerPublic,
    responses=EDIT_RESPONSES,
)
def close_customer(
    customer_id: UUID,
    runtime: RuntimeDep,
    ctx: ContextDep,
    scope: ScopeDep,
    expected: ExpectedVersionDep,
    response: Response,
) -> dict[str, Any]:
    """Close a customer; its logins stop working."""
    version = runtime.directory.close_customer(ctx, customer_id, expected)
    return fresh_row(runtime, TABLE, scope, customer_id, response, version)
