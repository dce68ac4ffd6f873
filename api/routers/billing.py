"""HTTP: customer classes, tariffs and their rates (a rate-table file too), usage records,
and the xDRs the rater makes of them."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse

from api.billing_schemas import (
    CustomerClassCreate,
    CustomerClassEdit,
    CustomerClassPublic,
    RatePublic,
    RatesChange,
    RatesChanged,
    TariffCreate,
    TariffPublic,
    UsageCreate,
    UsagePending,
    XdrPublic,
)
from api.deps import ContextDep, RuntimeDep
from api.openapi import created, link, problems
from api.routers.common import Limit, Offset
from api.routing import ProblemRoute
from api.schemas import PRINTABLE, Page
from composition.billing import queries, service
from composition.runtime import Runtime
from domain.billing.aggregates import CustomerClass
from domain.billing.aggregates import Tariff as _Tariff
from domain.billing.application import Usage
from domain.billing.rating import parse_rate
from domain.billing.xdrs import CUSTOMER, RESELLER
from domain.directory.access import Scope
from domain.shared.actor import CommandContext
from domain.shared.errors import ForbiddenError, InvalidValueError, NotFoundError
from domain.shared.permissions import Access, Section
from projections.extensions import ExtensionQueries

router = APIRouter(route_class=ProblemRoute)
CLASS = "/v1/customer-classes/{class_id}"
TARIFF = "/v1/tariffs/{tariff_id}"
CSV_COLUMNS = (
    "prefix",
    "price_per_minute",
    "first_interval",
    "next_interval",
    "connection_fee",
    "free_seconds",
    "off_peak_price_per_minute",
    "access_code",
    "effective_from",
    "effective_to",
)
UPLOAD_SCHEMA = {"maxLength": 50 * 1024 * 1024}
ROW_ERRORS_SHOWN = 20


class RateTableError(InvalidValueError):
    """A rate-table file with faulty rows: nothing of it is recorded."""

    code = "invalid_rate_table"


def _shown(runtime: Runtime, check: Any) -> Any:
    return runtime.read_your_writes("billing", lambda: check() or None)


def _staff(ctx: CommandContext) -> None:
    """Classes are the operator's and its resellers' to see."""
    ctx.require(Section.BILLING, Access.READ)
    Scope.of(ctx.actor).require_reseller_or_admin()


def _given_tariffs(runtime: Runtime, ctx: CommandContext) -> set[str] | None:
    """The tariffs the caller may read: every one for admins and resellers (None); for a
    customer or an account, those of the products in the customer's agreement."""
    ctx.require(Section.BILLING, Access.READ)
    scope = Scope.of(ctx.actor)
    if scope.unrestricted or scope.reseller_id is not None:
        return None
    customer_id = scope.customer_id
    if customer_id is None:
        account = runtime.directory_queries.get("accounts", scope, str(scope.account_id))
        customer_id = UUID(account["customer_id"]) if account else None
    if customer_id is None:
        return set()
    products = [r["product_id"] for r in ExtensionQueries(runtime.db).agreement(str(customer_id))]
    return {t for t in queries(runtime).tariffs_of(products).values() if t is not None}


def _readable_tariff(runtime: Runtime, ctx: CommandContext, tariff_id: UUID) -> dict[str, Any]:
    given = _given_tariffs(runtime, ctx)
    if given is not None and str(tariff_id) not in given:
        raise NotFoundError(f"tariff {tariff_id} not found")
    return _tariff(runtime, tariff_id)


# -- customer classes -------------------------------------------------------------------
@router.post(
    "/v1/customer-classes",
    tags=["billing"],
    status_code=201,
    response_model=CustomerClassPublic,
    responses=created(
        403, 409, 422, GetCustomerClass=link("get", CLASS, class_id="$response.body#/id")
    ),
)
def create_customer_class(
    body: CustomerClassCreate, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Create a customer class: its rounding method and precisions (admins)."""
    class_id = service(runtime).create_customer_class(
        ctx, body.name, body.rounding, body.invoice_precision, body.usage_precision
    )
    return _shown(runtime, lambda: queries(runtime).customer_class(str(class_id)))


@router.get(
    "/v1/customer-classes",
    tags=["billing"],
    response_model=Page[CustomerClassPublic],
    responses=problems(403),
)
def list_customer_classes(
    runtime: RuntimeDep, ctx: ContextDep, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """The customer classes."""
    _staff(ctx)
    items, next_offset = queries(runtime).customer_classes(limit, offset)
    return {"items": items, "next": next_offset}


@router.get(
    CLASS, tags=["billing"], response_model=CustomerClassPublic, responses=problems(403, 404)
)
def get_customer_class(class_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """One customer class."""
    _staff(ctx)
    row = queries(runtime).customer_class(str(class_id))
    if row is None:
        raise NotFoundError(f"customer class {class_id} not found")
    return row


@router.patch(
    CLASS,
    tags=["billing"],
    response_model=CustomerClassPublic,
    responses=problems(403, 404, 409, 422),
)
def edit_customer_class(
    class_id: UUID, body: CustomerClassEdit, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Change a class's name, rounding method or precisions (admins; a rounding or
    precision change needs a reason, recorded with the actor). Calls rated from then on
    use it; a reprocess re-rates a closed period with it and names the change as the
    cause; a replay of an earlier invoice still gives that invoice's hash."""
    billing = service(runtime)
    billing.edit_customer_class(
        ctx,
        class_id,
        body.reason,
        name=body.name,
        rounding_method=body.rounding,
        invoice_precision=body.invoice_precision,
        usage_precision=body.usage_precision,
    )
    version = int(billing.load(class_id, CustomerClass).version)
    return _shown(
        runtime,
        lambda: (
            (row := queries(runtime).customer_class(str(class_id)))
            and int(row["version"]) >= version
            and row
        ),
    )


# -- tariffs ----------------------------------------------------------------------------
@router.post(
    "/v1/tariffs",
    tags=["billing"],
    status_code=201,
    response_model=TariffPublic,
    responses=created(
        403,
        409,
        422,
        GetTariff=link("get", TARIFF, tariff_id="$response.body#/id"),
        ChangeRates=link("post", f"{TARIFF}/rates", tariff_id="$response.body#/id"),
        UploadRates=link("post", f"{TARIFF}/rates/uploads", tariff_id="$response.body#/id"),
    ),
)
def create_tariff(body: TariffCreate, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """Create a tariff with its rates (up to 1,000 here; upload a file for more)."""
    tariff_id = service(runtime).create_tariff(
        ctx,
        body.name,
        body.currency,
        body.precision,
        [r.model_dump(exclude_none=True) for r in body.rates],
        [p.model_dump(by_alias=True) for p in body.peak_periods],
    )
    version = 1 + (1 if body.rates else 0)
    return _tariff_at(runtime, tariff_id, version)


def _tariff_at(runtime: Runtime, tariff_id: UUID, version: int) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        row = queries(runtime).tariff(str(tariff_id))
        return row if row is not None and int(row["version"]) >= version else None

    return _shown(runtime, check) or _tariff(runtime, tariff_id)


def _tariff(runtime: Runtime, tariff_id: UUID) -> dict[str, Any]:
    row = queries(runtime).tariff(str(tariff_id))
    if row is None:
        raise NotFoundError(f"tariff {tariff_id} not found")
    return row


@router.get(
    "/v1/tariffs", tags=["billing"], response_model=Page[TariffPublic], responses=problems(403)
)
def list_tariffs(
    runtime: RuntimeDep, ctx: ContextDep, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """The tariffs the caller may read (a customer: those of the products it is given)."""
    given = _given_tariffs(runtime, ctx)
    items, next_offset = queries(runtime).tariffs(limit, offset, given)
    return {"items": items, "next": next_offset}


@router.get(TARIFF, tags=["billing"], response_model=TariffPublic, responses=problems(403, 404))
def get_tariff(tariff_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """One tariff (its rates are at .../rates)."""
    return _readable_tariff(runtime, ctx, tariff_id)


@router.get(
    f"{TARIFF}/rates",
    tags=["billing"],
    response_model=Page[RatePublic],
    responses=problems(403, 404),
)
def list_rates(
    tariff_id: UUID,
    runtime: RuntimeDep,
    ctx: ContextDep,
    prefix: Annotated[str | None, Query(max_length=15, pattern=r"^[0-9]+$")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """A tariff's rates, by prefix."""
    _readable_tariff(runtime, ctx, tariff_id)
    items, next_offset = queries(runtime).rates(str(tariff_id), prefix, limit, offset)
    return {"items": items, "next": next_offset}


@router.post(
    f"{TARIFF}/rates",
    tags=["billing"],
    response_model=RatesChanged,
    responses=problems(403, 404, 409, 422),
)
def change_rates(
    tariff_id: UUID, body: RatesChange, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    """Add or replace rates (same prefix, access code and start); recorded with the actor
    and the reason. Calls already rated keep their xDRs."""
    change_id = str(uuid4())
    rates = [r.model_dump(exclude_none=True) for r in body.rates]
    events = service(runtime).change_rates(ctx, tariff_id, rates, body.reason, change_id)
    return _changed(runtime, tariff_id, change_id, len(rates), events)


def _changed(
    runtime: Runtime, tariff_id: UUID, change_id: str, rates: int, events: int
) -> dict[str, Any]:
    version = service(runtime).load(tariff_id, _Tariff).version
    _tariff_at(runtime, tariff_id, version)
    return {"tariff_id": tariff_id, "change_id": change_id, "rates": rates, "events": events}


@router.post(
    f"{TARIFF}/rates/uploads",
    tags=["billing"],
    status_code=201,
    response_model=RatesChanged,
    responses={
        **problems(403, 404, 409, 413, 422),
        201: {
            "links": {
                "ListRates": link("get", f"{TARIFF}/rates", tariff_id="$request.path.tariff_id")
            }
        },
    },
)
def upload_rates(
    tariff_id: UUID,
    file: Annotated[
        UploadFile,
        File(description="A CSV rate table with a header row", json_schema_extra=UPLOAD_SCHEMA),
    ],
    reason: Annotated[str, Form(min_length=1, max_length=500, pattern=PRINTABLE)],
    runtime: RuntimeDep,
    ctx: ContextDep,
) -> dict[str, Any]:
    """Upload a rate table (CSV: prefix, price_per_minute, first_interval, next_interval,
    and optionally connection_fee, free_seconds, off_peak_price_per_minute, access_code,
    effective_from, effective_to). All of it applies, or nothing: a faulty row refuses the
    file with each row's fault. Recorded in events of at most 1,000 rates."""
    Scope.of(ctx.actor).require_admin()
    ctx.require(Section.BILLING, Access.MODIFY)
    _tariff(runtime, tariff_id)
    rates = read_rate_table(file.file.read())
    change_id = str(uuid4())
    events = service(runtime).change_rates(ctx, tariff_id, rates, reason, change_id)
    return _changed(runtime, tariff_id, change_id, len(rates), events)


def read_rate_table(raw: bytes) -> list[Any]:
    """The rates of a CSV file, each row checked; RateTableError lists the faulty rows."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RateTableError("a rate table is a UTF-8 CSV file") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in CSV_COLUMNS[:4] if c not in header]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if missing or unknown:
        raise RateTableError(
            f"the header must name {', '.join(CSV_COLUMNS[:4])} (and optionally"
            f" {', '.join(CSV_COLUMNS[4:])}); missing: {', '.join(missing) or 'none'},"
            f" unknown: {', '.join(unknown) or 'none'}"
        )
    reader.fieldnames = header
    rates, faults = [], []
    for number, row in enumerate(reader, start=2):
        try:
            rates.append(parse_rate(_typed(row), f"row {number}"))
        except InvalidValueError as error:
            faults.append(error.detail)
    if faults:
        shown = "; ".join(faults[:ROW_ERRORS_SHOWN])
        more = (
            f" (and {len(faults) - ROW_ERRORS_SHOWN} more)"
            if len(faults) > ROW_ERRORS_SHOWN
            else ""
        )
        raise RateTableError(f"{len(faults)} faulty rows, nothing recorded: {shown}{more}")
    if not rates:
        raise RateTableError("the rate table has no rows")
    return rates


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    typed: dict[str, Any] = {}
    for name, value in row.items():
        if name is None:
            raise InvalidValueError("a row has more cells than the header")
        value = (value or "").strip()
        if not value:
            continue
        if name in ("first_interval", "next_interval", "free_seconds"):
            typed[name] = int(value) if value.lstrip("-").isdigit() else value
        else:
            typed[name] = value
    return typed


# -- usage and xDRs ---------------------------------------------------------------------
@router.post(
    "/v1/usage",
    tags=["billing"],
    status_code=201,
    response_model=XdrPublic,
    responses={
        200: {"model": XdrPublic, "description": "This record_id was recorded before: its xDR"},
        202: {"model": UsagePending, "description": "Recorded; not rated yet"},
        **problems(403, 404, 409, 422),
    },
)
def record_usage(body: UsageCreate, runtime: RuntimeDep, ctx: ContextDep) -> Any:
    """Record usage for an account (admins): it is rated like a finished call, and the
    answer is its customer-level xDR once rated. A repeated record_id records nothing."""
    recorded = service(runtime).record_usage(
        ctx,
        Usage(
            account_id=body.account_id,
            service=body.service,
            cli=body.cli,
            cld=body.cld,
            connect_time=body.connect_time,
            duration_seconds=body.duration_seconds,
            record_id=body.record_id,
            quantity=_decimal(body.quantity),
            unit=body.unit,
            direction=body.direction,
        ),
    )
    leg = str(recorded.leg_id)
    xdr = _shown(runtime, lambda: queries(runtime).xdr_of_leg(leg))
    if xdr is None:
        location = f"/v1/xdrs?account_id={body.account_id}"
        return JSONResponse(
            {"leg_id": leg, "status": "pending", "location": location},
            status_code=202,
            headers={"Location": location},
        )
    return JSONResponse(
        XdrPublic.model_validate(xdr).model_dump(mode="json"),
        status_code=201 if recorded.new else 200,
    )


def _decimal(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


@router.get("/v1/xdrs", tags=["billing"], response_model=Page[XdrPublic], responses=problems(403))
def list_xdrs(
    runtime: RuntimeDep,
    ctx: ContextDep,
    account_id: UUID | None = None,
    customer_id: UUID | None = None,
    reseller_id: UUID | None = None,
    level: Literal["customer", "reseller"] = CUSTOMER,
    status: Literal["rated", "unrated"] | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """xDRs the caller may see, by connect time: customer-level ones by default,
    `level=reseller` for the operator's price to the reseller (admins and resellers)."""
    scope = Scope.of(ctx.actor)
    ctx.require(Section.BILLING, Access.READ)
    if level == RESELLER and not (scope.unrestricted or scope.reseller_id is not None):
        raise ForbiddenError("reseller-level xDRs are for the reseller and the operator")
    filters = {
        "account_id": str(account_id) if account_id else None,
        "customer_id": str(customer_id) if customer_id else None,
        "reseller_id": str(reseller_id) if reseller_id else None,
        "level": level,
        "status": status,
    }
    items, next_offset = queries(runtime).xdrs(scope, filters, limit, offset)
    return {"items": items, "next": next_offset}
