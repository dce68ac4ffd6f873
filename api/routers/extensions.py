"""HTTP: products, customers' agreements, extensions and auto attendants (each with a
generated account), DIDs as their aliases, blocking accounts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Response

from api.contributions import attach, edit
from api.deps import ContextDep, ExpectedVersionDep, RuntimeDep, ScopeDep
from api.extension_schemas import (
    AgreementPublic,
    AgreementSet,
    AutoAttendantCreate,
    AutoAttendantUpdate,
    DidAdd,
    EndpointCreated,
    EndpointPublic,
    ExtensionCreate,
    ExtensionUpdate,
    ProductCreate,
    ProductPublic,
    ProductUpdate,
)
from api.openapi import created, link, problems
from api.routers.common import EDIT_RESPONSES, Limit, Offset, fresh_row
from api.routing import ProblemRoute
from api.schemas import AccountPublic, Page
from composition import provisioning
from composition.runtime import Runtime
from domain.directory.access import Scope
from domain.provisioning.extensions import Provisioned, e164
from domain.shared.actor import CommandContext
from domain.shared.errors import NotFoundError
from domain.shared.permissions import Access, Section
from projections.extensions import ExtensionQueries

router = APIRouter(route_class=ProblemRoute)
CUSTOMER = "/v1/customers/{customer_id}"
EXTENSION = CUSTOMER + "/extensions/{extension_id}"
ATTENDANT = CUSTOMER + "/auto-attendants/{attendant_id}"
CHANGE = problems(403, 404, 409, 422)
DidPath = Annotated[str, Path(max_length=20, description="The DID, E.164 digits")]


def _queries(runtime: Runtime) -> ExtensionQueries:
    return ExtensionQueries(runtime.db)


def _readable(runtime: Runtime, ctx: CommandContext, customer_id: UUID) -> str:
    """The customer, if the caller may see it and its role may read extensions."""
    scope = Scope.of(ctx.actor)
    if runtime.directory_queries.get("customers", scope, str(customer_id)) is None:
        raise NotFoundError(f"customer {customer_id} not found")
    ctx.require(Section.EXTENSIONS, Access.READ)
    return str(customer_id)


def _shown(runtime: Runtime, check: Callable[[], Any]) -> None:
    """Read-your-writes on the extensions read model (bounded, like every route's)."""
    runtime.read_your_writes("extensions", lambda: True if check() else None)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "account_login": row["login"]}


def _endpoint(runtime: Runtime, customer_id: UUID, endpoint_id: UUID) -> dict[str, Any]:
    row = _queries(runtime).endpoint(str(endpoint_id), str(customer_id))
    if row is None or row["status"] != "active":
        raise NotFoundError(f"{endpoint_id} not found")
    return _public(row)


def _after(
    runtime: Runtime, customer_id: UUID, endpoint_id: UUID, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        row = _queries(runtime).endpoint(str(endpoint_id), str(customer_id))
        return row if row is not None and ready(row) else None

    _shown(runtime, check)
    return _endpoint(runtime, customer_id, endpoint_id)


def _created(
    runtime: Runtime, customer_id: UUID, made: Provisioned, products: list[UUID]
) -> dict[str, Any]:
    wanted = sorted(str(p) for p in dict.fromkeys(products))
    row = _after(runtime, customer_id, made.id, lambda r: sorted(r["products"]) == wanted)
    return {**row, "sip_password": made.sip_password}


# -- products ---------------------------------------------------------------------------
@router.post(
    "/v1/products",
    tags=["products"],
    status_code=201,
    response_model=ProductPublic,
    responses=created(403, 409, GetProduct=link("get", "/v1/products/{product_id}")),
)
def create_product(body: ProductCreate, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """Add a main or add-on product to the catalog (admins)."""
    product_id = provisioning.service(runtime).create_product(ctx, body.name, body.kind)
    _shown(runtime, lambda: _queries(runtime).product(str(product_id)))
    return _product(runtime, product_id)


@router.get("/v1/products", tags=["products"], response_model=Page[ProductPublic])
def list_products(
    runtime: RuntimeDep, ctx: ContextDep, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """The catalog of products."""
    ctx.require(Section.EXTENSIONS, Access.READ)
    items, next_offset = _queries(runtime).products(limit, offset)
    return {"items": attach(runtime, "products", items), "next": next_offset}


@router.get(
    "/v1/products/{product_id}",
    tags=["products"],
    response_model=ProductPublic,
    responses=problems(404),
)
def get_product(product_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """One product."""
    ctx.require(Section.EXTENSIONS, Access.READ)
    return _product(runtime, product_id)


@router.patch(
    "/v1/products/{product_id}",
    tags=["products"],
    response_model=ProductPublic,
    responses=problems(403, 404, 409, 422),
)
def update_product(
    product_id: UUID, body: ProductUpdate, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Change the fields other contexts keep on a product (billing's `tariff_id`; admins)."""
    _product(runtime, product_id)
    edit(runtime, ctx, "products", product_id, body.model_dump(exclude_unset=True), lambda _: 0)
    return _product(runtime, product_id)


def _product(runtime: Runtime, product_id: UUID) -> dict[str, Any]:
    row = _queries(runtime).product(str(product_id))
    if row is None:
        raise NotFoundError(f"product {product_id} not found")
    return attach(runtime, "products", [row])[0]


# -- agreements -------------------------------------------------------------------------
@router.put(
    CUSTOMER + "/agreement", tags=["agreements"], response_model=AgreementPublic, responses=CHANGE
)
def set_agreement(
    customer_id: UUID, body: AgreementSet, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Set the products the customer may give its accounts, each with a quantity (0: any)."""
    owner = provisioning.customer_owner(runtime, customer_id)
    wanted = [(item.product_id, item.quantity) for item in body.products]
    provisioning.retry_conflicts(
        lambda: provisioning.service(runtime).set_agreement(ctx, owner, wanted)
    )
    expected = sorted((str(p), q) for p, q in wanted)

    def shown() -> bool:
        rows = _queries(runtime).agreement(str(customer_id))
        return sorted((r["product_id"], int(r["quantity"])) for r in rows) == expected

    _shown(runtime, shown)
    return _agreement(runtime, customer_id)


@router.get(
    CUSTOMER + "/agreement",
    tags=["agreements"],
    response_model=AgreementPublic,
    responses=problems(403, 404),
)
def get_agreement(customer_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """The customer's agreement, with how many accounts use each product."""
    _readable(runtime, ctx, customer_id)
    return _agreement(runtime, customer_id)


def _agreement(runtime: Runtime, customer_id: UUID) -> dict[str, Any]:
    return {"customer_id": customer_id, "products": _queries(runtime).agreement(str(customer_id))}


# -- extensions -------------------------------------------------------------------------
@router.post(
    CUSTOMER + "/extensions",
    tags=["extensions"],
    status_code=201,
    response_model=EndpointCreated,
    responses=created(
        403,
        404,
        409,
        422,
        GetExtension=link("get", EXTENSION, extension_id="$response.body#/id"),
        GetAccount=link(
            "get", "/v1/accounts/{account_id}", account_id="$response.body#/account_id"
        ),
    ),
)
def create_extension(
    customer_id: UUID, body: ExtensionCreate, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Add an extension: its account `ph{number}x{extension}` gets a SIP password, shown
    only in this answer, and the products (within the customer's agreement)."""
    made = provisioning.add_extension(runtime, ctx, customer_id, body.extension, body.products)
    return _created(runtime, customer_id, made, body.products)


@router.get(
    CUSTOMER + "/extensions",
    tags=["extensions"],
    response_model=Page[EndpointPublic],
    responses=problems(403, 404),
)
def list_extensions(
    customer_id: UUID, runtime: RuntimeDep, ctx: ContextDep, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """The customer's extensions."""
    return _list(runtime, ctx, customer_id, "extension", limit, offset)


@router.get(
    EXTENSION, tags=["extensions"], response_model=EndpointPublic, responses=problems(403, 404)
)
def get_extension(
    customer_id: UUID, extension_id: UUID, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """One extension."""
    _readable(runtime, ctx, customer_id)
    return _endpoint(runtime, customer_id, extension_id)


@router.patch(EXTENSION, tags=["extensions"], response_model=EndpointPublic, responses=CHANGE)
def update_extension(
    customer_id: UUID,
    extension_id: UUID,
    body: ExtensionUpdate,
    runtime: RuntimeDep,
    ctx: ContextDep,
) -> dict[str, Any]:
    """Renumber an extension (its account's login follows) or change its products."""
    fields = body.model_dump(exclude_unset=True)
    extension, products = fields.get("extension"), fields.get("products")
    provisioning.change_endpoint(runtime, ctx, customer_id, extension_id, extension, products)
    return _after(runtime, customer_id, extension_id, _changed(extension, products))


@router.delete(EXTENSION, tags=["extensions"], status_code=204, responses=CHANGE)
def delete_extension(
    customer_id: UUID, extension_id: UUID, runtime: RuntimeDep, ctx: ContextDep
) -> Response:
    """Delete an extension: its account closes; its number, products and DIDs are free."""
    return _delete(runtime, ctx, customer_id, extension_id)


@router.post(
    EXTENSION + "/dids", tags=["extensions"], response_model=EndpointPublic, responses=CHANGE
)
def add_extension_did(
    customer_id: UUID, extension_id: UUID, body: DidAdd, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Make a DID an alias of the extension's account (a DID has one holder system-wide)."""
    return _add_did(runtime, ctx, customer_id, extension_id, body.did)


@router.delete(
    EXTENSION + "/dids/{did}",
    tags=["extensions"],
    response_model=EndpointPublic,
    responses=CHANGE,
)
def remove_extension_did(
    customer_id: UUID, extension_id: UUID, did: DidPath, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Take a DID alias away from the extension's account."""
    return _remove_did(runtime, ctx, customer_id, extension_id, did)


# -- auto attendants --------------------------------------------------------------------
@router.post(
    CUSTOMER + "/auto-attendants",
    tags=["auto attendants"],
    status_code=201,
    response_model=EndpointCreated,
    responses=created(
        403,
        404,
        409,
        422,
        GetAutoAttendant=link("get", ATTENDANT, attendant_id="$response.body#/id"),
    ),
)
def create_auto_attendant(
    customer_id: UUID, body: AutoAttendantCreate, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Add an auto attendant: its account is `ph{number}aa{n}`, n never given twice."""
    made = provisioning.add_auto_attendant(runtime, ctx, customer_id, body.products)
    return _created(runtime, customer_id, made, body.products)


@router.get(
    CUSTOMER + "/auto-attendants",
    tags=["auto attendants"],
    response_model=Page[EndpointPublic],
    responses=problems(403, 404),
)
def list_auto_attendants(
    customer_id: UUID, runtime: RuntimeDep, ctx: ContextDep, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """The customer's auto attendants."""
    return _list(runtime, ctx, customer_id, "auto_attendant", limit, offset)


@router.get(
    ATTENDANT,
    tags=["auto attendants"],
    response_model=EndpointPublic,
    responses=problems(403, 404),
)
def get_auto_attendant(
    customer_id: UUID, attendant_id: UUID, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """One auto attendant."""
    _readable(runtime, ctx, customer_id)
    return _endpoint(runtime, customer_id, attendant_id)


@router.patch(ATTENDANT, tags=["auto attendants"], response_model=EndpointPublic, responses=CHANGE)
def update_auto_attendant(
    customer_id: UUID,
    attendant_id: UUID,
    body: AutoAttendantUpdate,
    runtime: RuntimeDep,
    ctx: ContextDep,
) -> dict[str, Any]:
    """Change the auto attendant's products."""
    provisioning.change_endpoint(runtime, ctx, customer_id, attendant_id, None, body.products)
    return _after(runtime, customer_id, attendant_id, _changed(None, body.products))


@router.delete(ATTENDANT, tags=["auto attendants"], status_code=204, responses=CHANGE)
def delete_auto_attendant(
    customer_id: UUID, attendant_id: UUID, runtime: RuntimeDep, ctx: ContextDep
) -> Response:
    """Delete an auto attendant: its account closes; its n is never given again."""
    return _delete(runtime, ctx, customer_id, attendant_id)


@router.post(
    ATTENDANT + "/dids",
    tags=["auto attendants"],
    response_model=EndpointPublic,
    responses=CHANGE,
)
def add_auto_attendant_did(
    customer_id: UUID, attendant_id: UUID, body: DidAdd, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Make a DID an alias of the auto attendant's account (e.g. ph46170aa1)."""
    return _add_did(runtime, ctx, customer_id, attendant_id, body.did)


@router.delete(
    ATTENDANT + "/dids/{did}",
    tags=["auto attendants"],
    response_model=EndpointPublic,
    responses=CHANGE,
)
def remove_auto_attendant_did(
    customer_id: UUID, attendant_id: UUID, did: DidPath, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Take a DID alias away from the auto attendant's account."""
    return _remove_did(runtime, ctx, customer_id, attendant_id, did)


# -- blocking accounts ------------------------------------------------------------------
@router.post(
    "/v1/accounts/{account_id}/block",
    tags=["accounts"],
    response_model=AccountPublic,
    responses=EDIT_RESPONSES,
)
def block_account(
    account_id: UUID,
    runtime: RuntimeDep,
    ctx: ContextDep,
    scope: ScopeDep,
    expected: ExpectedVersionDep,
    response: Response,
) -> Any:
    """Block an account (an extension's, say): it may not log in or place calls."""
    version = runtime.directory.block_account(ctx, account_id, expected)
    return _blocked(runtime, scope, account_id, response, version, True)


@router.post(
    "/v1/accounts/{account_id}/unblock",
    tags=["accounts"],
    response_model=AccountPublic,
    responses=EDIT_RESPONSES,
)
def unblock_account(
    account_id: UUID,
    runtime: RuntimeDep,
    ctx: ContextDep,
    scope: ScopeDep,
    expected: ExpectedVersionDep,
    response: Response,
) -> Any:
    """Unblock an account; a customer cannot lift an admin's or reseller's block (403)."""
    version = runtime.directory.unblock_account(ctx, account_id, expected)
    return _blocked(runtime, scope, account_id, response, version, False)


def _blocked(
    runtime: Runtime, scope: Scope, account_id: UUID, response: Response, version: int, on: bool
) -> Any:
    account = str(account_id)
    _shown(runtime, lambda: _queries(runtime).accounts([account])[account]["blocked"] is on)
    return fresh_row(runtime, "accounts", scope, account_id, response, version)


# -- shared by both kinds ---------------------------------------------------------------
def _list(
    runtime: Runtime, ctx: CommandContext, customer_id: UUID, kind: str, limit: int, offset: int
) -> dict[str, Any]:
    customer = _readable(runtime, ctx, customer_id)
    rows, next_offset = _queries(runtime).endpoints(customer, kind, limit, offset)
    return {"items": [_public(r) for r in rows], "next": next_offset}


def _changed(
    extension: str | None, products: list[UUID] | None
) -> Callable[[dict[str, Any]], bool]:
    wanted = sorted(str(p) for p in dict.fromkeys(products or []))
    return lambda row: (
        (extension is None or row["extension"] == extension)
        and (products is None or sorted(row["products"]) == wanted)
    )


def _delete(
    runtime: Runtime, ctx: CommandContext, customer_id: UUID, endpoint_id: UUID
) -> Response:
    provisioning.delete_endpoint(runtime, ctx, customer_id, endpoint_id)

    def gone() -> bool:
        row = _queries(runtime).endpoint(str(endpoint_id), str(customer_id))
        return row is None or row["status"] != "active"

    _shown(runtime, gone)
    return Response(status_code=204)


def _add_did(
    runtime: Runtime, ctx: CommandContext, customer_id: UUID, endpoint_id: UUID, did: str
) -> dict[str, Any]:
    owner = provisioning.customer_owner(runtime, customer_id)
    provisioning.service(runtime).add_did(ctx, owner, endpoint_id, did)
    number = e164(did)
    return _after(runtime, customer_id, endpoint_id, lambda row: number in row["dids"])


def _remove_did(
    runtime: Runtime, ctx: CommandContext, customer_id: UUID, endpoint_id: UUID, did: str
) -> dict[str, Any]:
    owner = provisioning.customer_owner(runtime, customer_id)
    provisioning.service(runtime).remove_did(ctx, owner, endpoint_id, did)
    number = e164(did)
    return _after(runtime, customer_id, endpoint_id, lambda row: number not in row["dids"])
