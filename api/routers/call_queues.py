"""Call queues: a number whose answered callers wait for a free agent, with statistics."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.deps import ContextDep, RuntimeDep
from api.openapi import created, link, problems
from api.routing import ProblemRoute
from composition import calls
from composition.runtime import Runtime
from domain.directory.access import Scope
from domain.shared.errors import NotFoundError
from domain.shared.permissions import Access, Section
from projections.call_queues import CallQueueQueries

router = APIRouter(prefix="/v1/call-queues", tags=["call queues"], route_class=ProblemRoute)
ITEM = "/v1/call-queues/{queue_id}"


class QueueCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"\S")]
    number: Annotated[
        str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
    ] = Field(description="The number it answers on: an auto attendant's login or DID, or E.164")
    agent_account_ids: list[UUID] = Field(min_length=1, max_length=200)


class QueueStats(BaseModel):
    queued: int = Field(description="Callers answered and queued")
    waiting: int
    connected: int = Field(description="Connected to an agent")
    answered_not_connected: int = Field(description="Left the queue without an agent")
    answered_not_connected_percent: float
    requeued: int = Field(description="Times a caller was queued again (an agent missed it)")
    average_wait_ms: int | None


class QueuePublic(BaseModel):
    id: UUID
    name: str
    number: str
    customer_id: UUID
    agent_account_ids: list[UUID]
    stats: QueueStats


def _shown(runtime: Runtime, scope: Scope, queue_id: str) -> dict[str, Any] | None:
    found = CallQueueQueries(runtime.db).queues(scope, queue_id)
    return found[0] if found else None


@router.post(
    "",
    status_code=201,
    response_model=QueuePublic,
    responses=created(403, 404, 409, GetQueue=link("get", ITEM, queue_id="$response.body#/id")),
)
def create_queue(body: QueueCreate, runtime: RuntimeDep, ctx: ContextDep) -> Any:
    """A queue on a number; an auto attendant on that number sends answered calls to it."""
    queue_id = calls.create_queue(runtime, ctx, body.name, body.number, body.agent_account_ids)
    scope = Scope.of(ctx.actor)
    return runtime.read_your_writes("call_queues", lambda: _shown(runtime, scope, str(queue_id)))


@router.get("", response_model=list[QueuePublic], responses=problems(403))
def list_queues(runtime: RuntimeDep, ctx: ContextDep) -> list[dict[str, Any]]:
    """The queues the caller may see, with their statistics."""
    ctx.require(Section.CALL_CONTROL, Access.READ)
    return CallQueueQueries(runtime.db).queues(Scope.of(ctx.actor))


@router.get("/{queue_id}", response_model=QueuePublic, responses=problems(403, 404))
def get_queue(queue_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """One queue and its statistics (answered, connected, answered but not connected...)."""
    ctx.require(Section.CALL_CONTROL, Access.READ)
    found = _shown(runtime, Scope.of(ctx.actor), str(queue_id))
    if found is None:
        raise NotFoundError(f"call queue {queue_id} not found")
    return found
