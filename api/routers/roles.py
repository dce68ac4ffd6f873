"""Self-care roles: defined by admins, allowed per customer, held by customers, accounts
and individuals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import ContextDep, ExpectedVersionDep, RuntimeDep, ScopeDep
from api.openapi import created, link, problems
from api.routers.common import ACCEPTED, EDIT_RESPONSES, Limit, Offset
from api.routing import ProblemRoute
from api.schemas import Name, Page, Strict
from composition.runtime import Runtime
from domain.directory.access import Scope
from domain.shared.errors import NotFoundError
from domain.shared.permissions import REALM_DEFAULT, Access, Section
from projections.access import AccessQueries

router = APIRouter(tags=["roles"], route_class=ProblemRoute)
ITEM = "/v1/roles/{role_id}"
Row = dict[str, Any]


class RoleCreate(Strict):
    name: Name
    permissions: dict[Section, Access] = Field(
        default_factory=dict,
        description="Per section: modify, read or restrict (allowed_roles: read or restrict"
        " only); a section left out is restrict",
        examples=[{"individuals": "modify", "extensions": "read", "billing": "restrict"}],
    )


class RoleUpdate(Strict):
    name: Name = None  # type: ignore[assignment]
    permissions: dict[Section, Access] = None  # type: ignore[assignment]


class RolePublic(BaseModel):
    id: UUID
    name: str
    permissions: dict[Section, Access]
    version: int
    created_at: datetime
    updated_at: datetime


class AllowedRolesUpdate(Strict):
    role_ids: list[UUID] = Field(max_length=100)


class AllowedRoles(BaseModel):
    customer_id: UUID
    role_ids: list[UUID]
    roles: list[RolePublic]


class RoleAssignment(Strict):
    role_id: UUID | None = Field(description="A role id; null: the realm's default role")


class HeldRole(BaseModel):
    role_id: UUID | None = Field(description="null: the realm's default role")
    permissions: dict[Section, Access]


def access(runtime: Runtime) -> AccessQueries:
    return AccessQueries(runtime.db)


def fresh(runtime: Runtime, fetch: Callable[[], Row | None], version: int, location: str) -> Any:
    """The row once the access read model shows `version` (read-your-writes, bounded);
    when the wait runs out the write is committed still: 202 pointing at the row."""

    def shown() -> Row | None:
        row = fetch()
        return row if row is not None and int(row["version"]) >= version else None

    row = runtime.read_your_writes("access", shown)
    if row is None:
        return JSONResponse(
            {"location": location, "version": version},
            status_code=202,
            headers={"Location": location},
        )
    return row


# -- roles -------------------------------------------------------------------------------
@router.post(
    "/v1/roles",
    status_code=201,
    response_model=RolePublic,
    responses={
        **ACCEPTED,
        **created(
            403,
            409,
            422,
            GetRole=link("get", ITEM, role_id="$response.body#/id"),
            UpdateRole=link("patch", ITEM, role_id="$response.body#/id"),
        ),
    },
)
def create_role(body: RoleCreate, runtime: RuntimeDep, ctx: ContextDep) -> Any:
    """Define a self-care role (admins)."""
    raw = {section.value: level.value for section, level in body.permissions.items()}
    role_id = runtime.directory.create_role(ctx, body.name, raw)
    return fresh(runtime, lambda: access(runtime).role(str(role_id)), 1, f"/v1/roles/{role_id}")


@router.get("/v1/roles", response_model=Page[RolePublic], responses=problems(403))
def list_roles(runtime: RuntimeDep, scope: ScopeDep, limit: Limit = 50, offset: Offset = 0) -> Row:
    """Every role (admins and resellers; a customer reads its allowed roles instead)."""
    scope.require_reseller_or_admin()
    items, next_offset = access(runtime).roles(None, limit, offset)
    return {"items": items, "next": next_offset}


@router.get(ITEM, response_model=RolePublic, responses=problems(404))
def get_role(role_id: UUID, runtime: RuntimeDep, ctx: ContextDep, scope: ScopeDep) -> Row:
    """One role: any for admins and resellers; a customer's allowed roles for it."""
    row = access(runtime).role(str(role_id))
    if row is not None and not (scope.unrestricted or scope.reseller_id):
        ctx.require(Section.ALLOWED_ROLES, Access.READ)
        allowed = _allowed_ids(runtime, _customer_of(ctx.actor.id, scope))
        row = row if str(role_id) in allowed else None
    if row is None:
        raise NotFoundError(f"role {role_id} not found")
    return row


@router.patch(ITEM, response_model=RolePublic, responses={**EDIT_RESPONSES, **problems(412)})
def update_role(
    role_id: UUID,
    body: RoleUpdate,
    runtime: RuntimeDep,
    ctx: ContextDep,
    expected: ExpectedVersionDep,
    response: Response,
) -> Any:
    """Rename a role or change its permissions (admins); holders get them at once."""
    fields = body.model_dump(exclude_unset=True)
    if "permissions" in fields:
        fields["permissions"] = {s.value: a.value for s, a in body.permissions.items()}
    version = runtime.directory.update_role(ctx, role_id, expected, **fields)
    response.headers["ETag"] = f'"{version}"'
    return fresh(
        runtime, lambda: access(runtime).role(str(role_id)), version, f"/v1/roles/{role_id}"
    )


# -- allowed roles -----------------------------------------------------------------------
ALLOWED = "/v1/customers/{customer_id}/allowed-roles"


@router.put(ALLOWED, response_model=AllowedRoles, responses={**EDIT_RESPONSES, **problems(422)})
def set_allowed_roles(
    customer_id: UUID, body: AllowedRolesUpdate, runtime: RuntimeDep, ctx: ContextDep
) -> Any:
    """The roles a customer may give its individuals (admins, and the customer's reseller)."""
    version = runtime.directory.set_allowed_roles(ctx, customer_id, body.role_ids)
    shown = fresh(
        runtime,
        lambda: access(runtime).customer_access(str(customer_id)),
        version,
        ALLOWED.format(customer_id=customer_id),
    )
    return _allowed(runtime, customer_id, shown) if isinstance(shown, dict) else shown


@router.get(ALLOWED, response_model=AllowedRoles, responses=problems(403, 404))
def get_allowed_roles(
    customer_id: UUID, runtime: RuntimeDep, ctx: ContextDep, scope: ScopeDep
) -> Row:
    """The roles a customer may give its individuals (for a customer role: Read on
    allowed_roles)."""
    _visible_customer(runtime, scope, customer_id)
    ctx.require(Section.ALLOWED_ROLES, Access.READ)
    return _allowed(runtime, customer_id, access(runtime).customer_access(str(customer_id)))


# -- a customer's and an account's own role ------------------------------------------------
def _held_after(runtime: Runtime, read: Callable[[], Row | None], version: int, at: str) -> Any:
    """The role as the read model shows it once it has the write (or a 202 pointing there)."""
    shown = fresh(runtime, read, version, at)
    return _held(runtime, shown) if isinstance(shown, dict) else shown


@router.put("/v1/customers/{customer_id}/role", response_model=HeldRole, responses=EDIT_RESPONSES)
def set_customer_role(
    customer_id: UUID, body: RoleAssignment, runtime: RuntimeDep, ctx: ContextDep
) -> Any:
    """The role the customer's own login acts with (admins); null: the realm default."""
    version = runtime.directory.set_customer_role(ctx, customer_id, body.role_id)
    return _held_after(
        runtime,
        lambda: access(runtime).customer_access(str(customer_id)),
        version,
        f"/v1/customers/{customer_id}/role",
    )


@router.get("/v1/customers/{customer_id}/role", response_model=HeldRole, responses=problems(404))
def get_customer_role(customer_id: UUID, runtime: RuntimeDep, scope: ScopeDep) -> Row:
    """The role the customer's own login acts with."""
    _visible_customer(runtime, scope, customer_id)
    return _held(runtime, access(runtime).customer_access(str(customer_id)))


@router.put("/v1/accounts/{account_id}/role", response_model=HeldRole, responses=EDIT_RESPONSES)
def set_account_role(
    account_id: UUID, body: RoleAssignment, runtime: RuntimeDep, ctx: ContextDep
) -> Any:
    """The role an account acts with (admins); null: the realm default."""
    version = runtime.directory.set_account_role(ctx, account_id, body.role_id)
    return _held_after(
        runtime,
        lambda: access(runtime).account_access(str(account_id)),
        version,
        f"/v1/accounts/{account_id}/role",
    )


@router.get("/v1/accounts/{account_id}/role", response_model=HeldRole, responses=problems(404))
def get_account_role(account_id: UUID, runtime: RuntimeDep, scope: ScopeDep) -> Row:
    """The role an account acts with."""
    if runtime.directory_queries.get("accounts", scope, str(account_id)) is None:
        raise NotFoundError(f"account {account_id} not found")
    return _held(runtime, access(runtime).account_access(str(account_id)))


# -- helpers -----------------------------------------------------------------------------
def _visible_customer(runtime: Runtime, scope: Scope, customer_id: UUID) -> None:
    if runtime.directory_queries.get("customers", scope, str(customer_id)) is None:
        raise NotFoundError(f"customer {customer_id} not found")


def _customer_of(actor_id: str, scope: Scope) -> str:
    return str(scope.customer_id) if scope.customer_id else actor_id


def _allowed_ids(runtime: Runtime, customer_id: str) -> list[str]:
    row = access(runtime).customer_access(customer_id)
    return list(row["allowed_role_ids"]) if row else []


def _allowed(runtime: Runtime, customer_id: UUID, row: Row | None) -> Row:
    ids = list(row["allowed_role_ids"]) if row else []
    roles, _ = access(runtime).roles(ids, 100, 0)
    return {"customer_id": customer_id, "role_ids": ids, "roles": roles}


def _held(runtime: Runtime, row: Row | None) -> Row:
    role_id = row["role_id"] if row else None
    role = access(runtime).role(role_id) if role_id else None
    return {
        "role_id": role_id,
        "permissions": role["permissions"] if role else dict(REALM_DEFAULT),
    }
