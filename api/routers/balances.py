"""HTTP: a customer's balance (charges, payments, terms, available funds) and payments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints

from api.deps import ContextDep, RuntimeDep
from api.openapi import problems
from api.routers.common import Limit, Offset
from api.routing import ProblemRoute
from api.schemas import PRINTABLE, Page, Strict
from composition.balances import Money, queries
from composition.billing import service
from composition.runtime import Runtime
from domain.billing.balances import Payment
from domain.directory.access import Scope
from domain.shared.actor import CommandContext
from domain.shared.aggregate import iso
from domain.shared.errors import ForbiddenError, NotFoundError
from domain.shared.permissions import Access, Section

router = APIRouter(route_class=ProblemRoute, tags=["billing"])


class Balance(BaseModel):
    customer_id: UUID
    currency: str | None
    charges: str = Field(description="The sum of the customer's rated charges")
    xdrs: int
    updated_at: datetime | None = Field(description="When the charges last changed")
    mode: Literal["prepaid", "postpaid"]
    credit_limit: str | None = Field(description="null: no limit (postpaid)")
    payments: str = Field(description="The sum of the customer's payments, less refunds")
    balance: str = Field(description="payments - charges")
    available: str | None = Field(description="balance + credit_limit; null when no limit")
    no_funds: bool = Field(
        description="available is below zero: the customer may not originate calls, and days"
        " spent so are no-funds days for subscription credits"
    )


class PaymentCreate(Strict):
    amount: Money = Field(description="More than 0 (a refund too: `kind` gives the sign)")
    reference: Annotated[
        str, StringConstraints(min_length=1, max_length=100, pattern=PRINTABLE)
    ] = Field(
        description="The payment's own id (a bank or processor reference): posted again,"
        " the first payment is answered and nothing is recorded"
    )
    note: Annotated[str, StringConstraints(max_length=500, pattern=PRINTABLE)] | None = None
    kind: Literal["payment", "refund"] = Field(
        "payment", description="`refund`: money given back; it lowers the balance"
    )


class PaymentPublic(BaseModel):
    id: UUID = Field(description="uuid5(customer id, reference)")
    customer_id: UUID
    kind: Literal["payment", "refund"]
    amount: str = Field(description="Signed: a refund is negative")
    currency: str
    reference: str
    note: str | None
    received_at: datetime


def _customer(runtime: Runtime, ctx: CommandContext, customer_id: UUID) -> dict[str, Any]:
    """The customer, for billing's readers: itself, its reseller, admins (billing Read)."""
    ctx.require(Section.BILLING, Access.READ)
    scope = Scope.of(ctx.actor)
    if not (scope.unrestricted or scope.reseller_id or scope.customer_id):
        raise ForbiddenError("balances are for customers, their resellers and the operator")
    row = runtime.directory_queries.get("customers", scope, str(customer_id))
    if row is None:
        raise NotFoundError(f"customer {customer_id} not found")
    return dict(row)


def _money(value: Any) -> str | None:
    return None if value is None else format(value, "f")


@router.get(
    "/v1/customers/{customer_id}/balance", response_model=Balance, responses=problems(403, 404)
)
def get_balance(customer_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """The customer's balance: its charges (rated xDRs, corrected by reprocesses), payments,
    terms, and the funds available (balance + credit limit)."""
    customer = _customer(runtime, ctx, customer_id)
    funds, charges, _count = queries(runtime).funds(str(customer_id))
    return {
        "customer_id": customer_id,
        "currency": (charges or {}).get("currency") or customer.get("currency"),
        "charges": charges["charges"] if charges else "0",
        "xdrs": charges["xdrs"] if charges else 0,
        "updated_at": charges["updated_at"] if charges else None,
        "mode": funds.mode,
        "credit_limit": _money(funds.credit_limit),
        "payments": _money(funds.payments),
        "balance": _money(funds.balance),
        "available": _money(funds.available),
        "no_funds": funds.no_funds,
    }


@router.post(
    "/v1/customers/{customer_id}/payments",
    status_code=201,
    response_model=PaymentPublic,
    responses={
        200: {"model": PaymentPublic, "description": "That reference was received before"},
        **problems(403, 404, 409, 422),
    },
)
def receive_payment(
    customer_id: UUID, body: PaymentCreate, runtime: RuntimeDep, ctx: ContextDep
) -> JSONResponse:
    """Record a payment or top-up (or a refund) in the customer's currency: admins and its
    reseller. Once per reference: the same reference and amount answer 200 with the first
    payment; another amount or kind is 409 `payment_reference_reused`."""
    made = service(runtime).receive_payment(
        ctx, customer_id, body.amount, body.reference, body.note, body.kind
    )
    found = queries(runtime)
    row = runtime.read_your_writes("billing_funds", lambda: found.payment(str(made.payment_id)))
    shown = _payment(row) if row else _from_log(runtime, made.payment_id)
    body_out = PaymentPublic.model_validate(shown).model_dump(mode="json")
    return JSONResponse(body_out, status_code=201 if made.new else 200)


@router.get(
    "/v1/customers/{customer_id}/payments",
    response_model=Page[PaymentPublic],
    responses=problems(403, 404),
)
def list_payments(
    customer_id: UUID, runtime: RuntimeDep, ctx: ContextDep, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """The customer's payments and refunds, oldest first: the customer itself, its reseller,
    admins (billing Read)."""
    _customer(runtime, ctx, customer_id)
    rows, next_offset = queries(runtime).payments(str(customer_id), limit, offset)
    return {"items": [_payment(r) for r in rows], "next": next_offset}


def _payment(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "received_at": row["received_at"]}


def _from_log(runtime: Runtime, payment_id: UUID) -> dict[str, Any]:
    """The payment as its aggregate holds it, when the read model is behind."""
    payment = service(runtime).load(payment_id, Payment)
    return {
        "id": payment.id,
        "customer_id": payment.customer_id,
        "kind": payment.kind,
        "amount": _money(payment.amount),
        "currency": payment.currency,
        "reference": payment.reference,
        "note": payment.note,
        "received_at": iso(payment.created_on),
    }
