"""Customers: billed subjects, directly or under a reseller."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from api.deps import ContextDep, ExpectedVersionDep, RuntimeDep, ScopeDep
from api.routers.common import Limit, Offset, Status, fresh_row, page, visible_row
from api.schemas import CustomerCreate, CustomerPublic, CustomerUpdate, Page

router = APIRouter(prefix="/v1/customers", tags=["customers"])
TABLE = "customers"


@router.get("", response_model=Page[CustomerPublic])
def list_customers(
    runtime: RuntimeDep,
    scope: ScopeDep,
    reseller_id: UUID | None = None,
    status: Status | None = None,
    name: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """List the customers the caller may see."""
    filters = {"reseller_id": reseller_id, "status": status, "name": name}
    return page(*runtime.directory_queries.list(TABLE, scope, filters, limit, offset))


@router.post("", status_code=201, response_model=CustomerPublic)
def create_customer(
    body: CustomerCreate, runtime: RuntimeDep, ctx: ContextDep, scope: ScopeDep, response: Response
) -> dict[str, Any]:
    """Create a customer (a reseller creates it under itself)."""
    customer_id = runtime.directory.create_customer(ctx, **body.model_dump())
    return fresh_row(runtime, TABLE, scope, customer_id, response)


@router.get("/{customer_id}", response_model=CustomerPublic)
def get_customer(
    customer_id: UUID, runtime: RuntimeDep, scope: ScopeDep, response: Response
) -> dict[str, Any]:
    """One customer."""
    return visible_row(runtime, TABLE, scope, customer_id, response)


@router.patch("/{customer_id}", response_model=CustomerPublic)
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
    fields = body.model_dump(exclude_unset=True)
    version = runtime.directory.update_customer(ctx, customer_id, expected, **fields)
    return fresh_row(runtime, TABLE, scope, customer_id, response, version)


@router.post("/{customer_id}/close", response_model=CustomerPublic)
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
