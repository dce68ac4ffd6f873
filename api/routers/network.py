"""The scripted network: how a number behaves when a leg is placed to it (admins)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from adapters.scripted_network import Script
from api.deps import RuntimeDep, ScopeDep
from api.openapi import problems
from api.routing import ProblemRoute
from composition import calls

router = APIRouter(prefix="/v1/network", tags=["network"], route_class=ProblemRoute)
Number = Annotated[
    str,
    Path(
        min_length=1, max_length=100, pattern=r"^[A-Za-z0-9+._-]+$", description="A number or login"
    ),
]


class ScriptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer_after_ms: int = Field(ge=0, le=3_600_000, description="Answer this long after ringing")
    hangup_after_ms: int | None = Field(
        None, ge=0, le=86_400_000, description="Hang up this long after answering"
    )
    early_media_ms: int | None = Field(None, ge=0, le=3_600_000, description="Early media after")
    ring_timeout_s: float = Field(30, gt=0, le=3600, description="Give up ringing (no_answer)")
    reject: Literal["busy", "no_answer", "declined"] | None = None


class ScriptPublic(ScriptBody):
    number: str


@router.put("/scripted/{number}", response_model=ScriptPublic, responses=problems(403, 404))
def script_number(
    number: Number, body: ScriptBody, runtime: RuntimeDep, scope: ScopeDep
) -> dict[str, Any]:
    """Script how a number behaves on the scripted network (this process, until restart)."""
    scope.require_admin()
    calls.network(runtime).script(number, Script(**body.model_dump()))
    return {"number": number, **body.model_dump()}
