"""Call control over HTTP (`POST /v1/call-control/{method}`) and the signing secret; the
WebSocket is in api/call_control_ws.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.call_control import METHODS, Method
from api.call_control_ws import call_control_websocket
from api.deps import ContextDep, RuntimeDep
from api.openapi import problems
from api.routing import ProblemRoute
from composition import calls

router = APIRouter(prefix="/v1/call-control", tags=["call control"], route_class=ProblemRoute)
router.add_api_websocket_route("/ws", call_control_websocket)


class SigningSecret(BaseModel):
    secret: str = Field(description="whsec_...: verify state callbacks with it")


@router.get("/signing-secret", response_model=SigningSecret)
def signing_secret(runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """Your state-callback signing secret (one per principal, issued on first use)."""
    return {"secret": calls.service(runtime).signing_secret(ctx)}


def _route(name: str, method: Method) -> None:
    def handle(body: Any, runtime: Any, ctx: Any) -> dict[str, Any]:
        return method.run(runtime, ctx, body)

    handle.__annotations__ = {
        "body": method.params,
        "runtime": RuntimeDep,
        "ctx": ContextDep,
        "return": dict[str, Any],
    }
    handle.__name__ = name
    handle.__doc__ = method.summary
    router.add_api_route(
        f"/{name}",
        handle,
        methods=["POST"],
        response_model=method.result,
        responses=problems(403, 404, 409),
        operation_id=f"call_control_{name}",
        summary=method.summary,
    )


for _name, _method in METHODS.items():
    if _name != "ping":
        _route(_name, _method)
_route("ping", METHODS["ping"])
