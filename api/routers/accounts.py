"""Accounts: the SIP/billing accounts of a account."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from api.contributions import edit
from api.deps import ContextDep, ExpectedVersionDep, RuntimeDep, ScopeDep
from api.openapi import created, link, problems
from api.routers.common import (
    ACCEPTED,
    EDIT_RESPONSES,
    Limit,
    LoginFilter,
    Offset,
    Status,
    fresh_row,
    page,
    visible_row,
)
from api.routing import ProblemRoute
from api.schemas import AccountCreate, AccountPublic, AccountUpdate, Page
from domain.shared.permissions import Access, Section

router = APIRouter(prefix="/v1/accounts", tags=["accounts"], route_class=ProblemRoute)
TABLE = "accounts"
ITEM = "/v1/accounts/{account_id}"
BY_ID = {"account_id": "$response.body#/id"}


@router.get("", response_model=Page[AccountPublic], responses=problems(403))
def list_accounts(
    runtime: RuntimeDep,
    ctx: ContextDep,
    scope: ScopeDep,
    customer_id: UUID | None = None,
    status: Status | None = None,
    login: LoginFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """List the accounts the caller may see (a customer role: Read on extensions)."""
    if scope.account_id is None:
        ctx.require(Section.EXTENSIONS, Access.READ)
    filters = {"customer_id": customer_id, "status": status, "login": login}
    return page(
        runtime, TABLE, *runtime.directory_queries.list(TABLE, scope, filters, limit, offset)
    )


@router.post(
    "",
    status_code=201,
    response_model=AccountPublic,
    responses={
        **ACCEPTED,
        **created(
            404,
            409,
            GetAccount=link("get", ITEM, **BY_ID),
            UpdateAccount=link("patch", ITEM, **BY_ID),
            CloseAccount=link("post", f"{ITEM}/close", **BY_ID),
        ),
    },
)
def create_account(
    body: AccountCreate, runtime: RuntimeDep, ctx: ContextDep, scope: ScopeDep, response: Response
) -> dict[str, Any]:
    """Create an account for a customer the caller manages."""
    account_id = runtime.directory.create_account(ctx, **body.model_dump())
    return fresh_row(runtime, TABLE, scope, account_id, response)


@router.get("/{account_id}", response_model=AccountPublic, responses=problems(403, 404))
def get_account(
    account_id: UUID, runtime: RuntimeDep, ctx: ContextDep, scope: ScopeDep, response: Response
) -> dict[str, Any]:
    """One account (a customer role: Read on extensions; an account may read itself)."""
    if scope.account_id != account_id:
        ctx.require(Section.EXTENSIONS, Access.READ)
    return visible_row(runtime, TABLE, scope, account_id, response)


@router.patch("/{account_id}", response_model=AccountPublic, responses=EDIT_RESPONSES)
def update_account(
    account_id: UUID,
    body: AccountUpdate,
    runtime: RuntimeDep,
    ctx: ContextDep,
    scope: ScopeDep,
    expected: ExpectedVersionDep,
    response: Response,
) -> dict[str, Any]:
    """Change some of an account's fields (`product_id`: its main product); `If-Match`
    makes it conditional."""
    version = edit(
        runtime,
        ctx,
        TABLE,
        account_id,
        body.model_dump(exclude_unset=True),
        lambda own: runtime.directory.update_account(ctx, account_id, expected, **own),
    )
    return fresh_row(runtime, TABLE, scope, account_id, response, version)


@router.post(
    "/{account_id}/close",
    response_model=AccountPublic,
    responses=EDIT_RESPONSES,
)
def close_account(
    account_id: UUID,
    runtime: RuntimeDep,
    ctx: ContextDep,
    scope: ScopeDep,
    expected: ExpectedVersionDep,
    response: Response,
) -> dict[str, Any]:
    """Close an account; its token stops working."""
    version = runtime.directory.close_account(ctx, account_id, expected)
    return fresh_row(runtime, TABLE, scope, account_id, response, version)
