"""HTTP: billing periods closed into invoices, invoices (JSON, HTML and PDF), and reprocess
jobs (billing part 2). Balances: api/routers/balances.py."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from adapters.invoice_documents import render_html, render_pdf
from api.deps import ContextDep, RuntimeDep
from api.openapi import problems
from api.routers.common import Limit, Offset
from api.routing import ProblemRoute
from api.schemas import Page, Strict
from composition.billing import invoicer, service
from composition.runtime import Runtime
from domain.directory.access import Scope
from domain.shared.actor import CommandContext
from domain.shared.errors import ForbiddenError, InvalidValueError, NotFoundError
from domain.shared.permissions import Access, Section
from projections.invoices import InvoiceQueries

router = APIRouter(route_class=ProblemRoute)
PeriodId = Field(
    min_length=7,
    max_length=10,
    pattern=r"^[0-9]{4}-([0-9]{2}|W[0-9]{2}|[0-9]{2}-[0-9]{2})$",
    examples=["2026-10", "2026-W41", "2026-10-05"],
)


class PeriodClose(Strict):
    """Exactly one of `customer_id` (its invoice) and `reseller_id` (the operator's invoice
    to the reseller: its reseller-level xDRs; admins only)."""

    customer_id: UUID | None = None
    reseller_id: UUID | None = None
    period: str = PeriodId


Level = Literal["customer", "reseller"]


class InvoiceSummary(BaseModel):
    id: UUID
    level: Level = Field(
        description="`customer`: a customer's invoice; `reseller`: the operator's invoice to"
        " a reseller (its reseller-level xDRs)"
    )
    customer_id: UUID | None = Field(description="None on a reseller's invoice")
    reseller_id: UUID | None
    period: str
    version: int = Field(description="1 when the period closed; each reprocess adds one")
    status: Literal["issued", "void"]
    total: str = Field(description="A decimal string, rounded once at the invoice precision")
    currency: str | None
    content_hash: str = Field(description="SHA-256 (hex) of RFC 8785 JSON of lines and totals")
    replaces: UUID | None
    replaced_by: UUID | None
    issued_at: datetime


class XdrChange(BaseModel):
    leg_id: UUID
    connect_time: str
    cld: str | None
    old_amount: str | None
    new_amount: str | None
    cause: str


class InvoicePublic(InvoiceSummary):
    start: datetime
    end: datetime
    position: int = Field(description="The log position the invoice was computed at")
    lines: list[dict[str, Any]]
    totals: dict[str, Any]
    reason: str | None
    changes: list[XdrChange] = Field(description="Each xDR a reprocess changed, and why")


class ReprocessCreate(Strict):
    period: str = PeriodId
    customer_id: UUID | None = None
    reseller_id: UUID | None = Field(
        None, description="Only this reseller's own invoice (not with `customer_id`)"
    )
    reason: str = Field(min_length=1, max_length=500)


class ReprocessAccepted(BaseModel):
    id: UUID


class ReprocessedInvoice(BaseModel):
    level: Level = "customer"
    customer_id: UUID | None
    reseller_id: UUID | None = None
    old_invoice_id: UUID
    new_invoice_id: UUID
    old_total: str
    new_total: str
    xdrs_changed: int
    changes: list[XdrChange]


class ReprocessJobPublic(BaseModel):
    id: UUID
    period: str
    customer_id: UUID | None
    reseller_id: UUID | None = None
    reason: str
    status: Literal["running", "completed", "failed"]
    error: str | None
    invoices: list[ReprocessedInvoice]
    requested_at: datetime
    updated_at: datetime


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "version": row["version_number"],
        "start": row["start_at"],
        "end": row["end_at"],
    }


def _reader(ctx: CommandContext) -> Scope:
    ctx.require(Section.BILLING, Access.READ)
    scope = Scope.of(ctx.actor)
    if not (scope.unrestricted or scope.reseller_id or scope.customer_id):
        raise ForbiddenError("invoices are for customers, their resellers and the operator")
    return scope


def _visible(scope: Scope, row: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """A customer's invoice: the customer, its reseller, admins; a reseller's: that reseller
    and admins, never its customers."""
    if row is None:
        raise NotFoundError(f"{what} not found")
    reseller = UUID(row["reseller_id"]) if row["reseller_id"] else None
    if row["customer_id"] is None:
        visible = reseller is not None and scope.sees_reseller(reseller)
    else:
        visible = scope.sees_customer(UUID(row["customer_id"]), reseller)
    if not visible:
        raise NotFoundError(f"{what} not found")
    return row


def _invoice(runtime: Runtime, ctx: CommandContext, invoice_id: UUID) -> dict[str, Any]:
    scope = _reader(ctx)
    row = InvoiceQueries(runtime.db).invoice(str(invoice_id))
    return _public(_visible(scope, row, f"invoice {invoice_id}"))


@router.post(
    "/v1/billing/periods/close",
    tags=["billing"],
    status_code=201,
    response_model=InvoicePublic,
    responses={
        200: {"model": InvoicePublic, "description": "Closed before: its first invoice"},
        **problems(403, 404, 409, 422),
    },
)
def close_period(body: PeriodClose, runtime: RuntimeDep, ctx: ContextDep) -> Any:
    """Close a customer's billing period (`2026-10`, `2026-W41`, `2026-10-05`, in the
    customer's zone, of the customer's kind: another kind is 422 `period_kind_mismatch`)
    and issue its invoice; or, with `reseller_id` (admins), a reseller's period and the
    operator's invoice to it. 409 while one of its calls is still up. Usage into a closed
    customer period is refused (409 `period_closed`): reprocess it instead."""
    queries = InvoiceQueries(runtime.db)
    billing = service(runtime)
    if (body.customer_id is None) == (body.reseller_id is None):
        raise InvalidValueError("give exactly one of customer_id and reseller_id")
    if body.reseller_id is not None:
        billing.may_close_reseller(ctx, body.reseller_id)
        before = billing.closed_reseller_invoice(body.reseller_id, body.period)
        made = invoicer(runtime).close_reseller(ctx, body.reseller_id, body.period)
    else:
        assert body.customer_id is not None
        before = billing.closed_invoice(body.customer_id, body.period)
        made = invoicer(runtime).close(ctx, body.customer_id, body.period)
    row = runtime.read_your_writes("billing_invoices", lambda: queries.invoice(str(made)))
    if row is None:
        raise NotFoundError(f"invoice {made} not shown yet; GET /v1/invoices/{made}")
    shown = InvoicePublic.model_validate(_public(row)).model_dump(mode="json")
    return JSONResponse(shown, status_code=200 if before else 201)


@router.get(
    "/v1/invoices", tags=["billing"], response_model=Page[InvoiceSummary], responses=problems(403)
)
def list_invoices(
    runtime: RuntimeDep,
    ctx: ContextDep,
    customer_id: UUID | None = None,
    reseller_id: UUID | None = None,
    level: Annotated[
        Level, Query(description="`reseller`: the operator's invoices to resellers")
    ] = "customer",
    period: Annotated[str | None, Query(max_length=10)] = None,
    status: Literal["issued", "void"] | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Invoices the caller may see, every version (void ones too), by period: customers'
    by default, `level=reseller` the operator's invoices to resellers (admins and each
    reseller its own; customers never see them)."""
    scope = _reader(ctx)
    filters = {
        "level": level,
        "customer_id": str(customer_id) if customer_id else None,
        "reseller_id": str(reseller_id) if reseller_id else None,
        "period": period,
        "status": status,
    }
    items, next_offset = InvoiceQueries(runtime.db).invoices(scope, filters, limit, offset)
    return {"items": [_public(i) for i in items], "next": next_offset}


@router.get(
    "/v1/invoices/{invoice_id}",
    tags=["billing"],
    response_model=InvoicePublic,
    responses=problems(403, 404),
)
def get_invoice(invoice_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """One invoice version: lines, totals, the log position it was computed at, and (for a
    reprocessed one) each changed xDR with its old and new amount and the cause."""
    return _invoice(runtime, ctx, invoice_id)


@router.get(
    "/v1/invoices/{invoice_id}/html",
    tags=["billing"],
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}}, **problems(403, 404)},
)
def invoice_html(invoice_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> HTMLResponse:
    """The invoice rendered as an HTML page."""
    return HTMLResponse(render_html(_invoice(runtime, ctx, invoice_id)))


@router.get(
    "/v1/invoices/{invoice_id}/pdf",
    tags=["billing"],
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **problems(403, 404)},
)
def invoice_pdf(invoice_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> Response:
    """The invoice as a PDF document."""
    invoice = _invoice(runtime, ctx, invoice_id)
    name = f"invoice-{invoice['period']}-v{invoice['version']}.pdf"
    return Response(
        render_pdf(invoice),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


@router.post(
    "/v1/billing/reprocess",
    tags=["billing"],
    status_code=202,
    response_model=ReprocessAccepted,
    responses=problems(403, 404, 422),
)
def reprocess(body: ReprocessCreate, runtime: RuntimeDep, ctx: ContextDep) -> JSONResponse:
    """Reprocess a period after a tariff or rounding fix (admins): each invoice whose
    content changes is voided and its next version issued with the diff. A job: follow it
    at `GET /v1/billing/reprocess/{id}`."""
    job_id = service(runtime).request_reprocess(
        ctx, body.period, body.customer_id, body.reason, body.reseller_id
    )
    worker = invoicer(runtime)
    threading.Thread(
        target=_run_job, args=(worker, ctx, job_id), name="billing-reprocess", daemon=True
    ).start()
    # the client polls the id it is given next: answer once the job's read model shows it
    runtime.read_your_writes(
        "billing_invoices", lambda: InvoiceQueries(runtime.db).job(str(job_id))
    )
    location = f"/v1/billing/reprocess/{job_id}"
    return JSONResponse({"id": str(job_id)}, status_code=202, headers={"Location": location})


def _run_job(worker: Any, ctx: CommandContext, job_id: UUID) -> None:
    try:
        worker.reprocess(ctx, job_id)
    except Exception:  # recorded on the job (Failed) by reprocess itself
        return


@router.get(
    "/v1/billing/reprocess/{job_id}",
    tags=["billing"],
    response_model=ReprocessJobPublic,
    responses=problems(403, 404),
)
def get_reprocess(job_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """The job's status and, per invoice, the old and new totals, the new invoice's id and
    each changed xDR (old amount, new amount, cause)."""
    ctx.require(Section.BILLING, Access.READ)
    Scope.of(ctx.actor).require_admin()
    queries = InvoiceQueries(runtime.db)
    job = queries.job(str(job_id))
    if job is None:
        raise NotFoundError(f"reprocess job {job_id} not found")
    for entry in job["invoices"]:
        new = queries.invoice(entry["new_invoice_id"])
        entry["changes"] = new["changes"] if new else []
    return job
