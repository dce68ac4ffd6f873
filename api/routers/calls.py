"""Watching calls: the active-call view and a call's notifications."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api import call_control
from api.call_control import ActiveCallsPage, ActiveCallsParams, Notification
from api.deps import ContextDep, RuntimeDep
from api.openapi import problems
from api.routers.common import Limit, Offset
from api.routing import ProblemRoute

router = APIRouter(prefix="/v1/calls", tags=["calls"], route_class=ProblemRoute)


@router.get("/active", response_model=ActiveCallsPage, responses=problems(403))
def active_calls(
    runtime: RuntimeDep,
    ctx: ContextDep,
    limit: Limit = 100,
    offset: Offset = 0,
    account_id: Annotated[UUID | None, Query(description="Only this account's calls")] = None,
    customer_id: Annotated[UUID | None, Query(description="Only this customer's calls")] = None,
) -> dict[str, Any]:
    """Calls in progress that the caller may see (its realm), oldest first."""
    params = ActiveCallsParams(
        account_id=account_id, customer_id=customer_id, limit=limit, offset=offset
    )
    return call_control.get_active_calls(runtime, ctx, params)


@router.get("/{call_id}/events", response_model=list[Notification], responses=problems(403, 404))
def call_events(call_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> Any:
    """Every notification of a call, by seq (fetch the ones a client missed)."""
    # As stored: exactly the call_info params the WebSocket sent (absent fields stay absent).
    return JSONResponse(call_control.call_events(runtime, ctx, call_id))
