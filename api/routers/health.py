"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import RuntimeDep
from api.routing import ProblemRoute

router = APIRouter(tags=["health"], route_class=ProblemRoute)


@router.get("/livez")
def live() -> dict[str, str]:
    """The process answers (touches nothing: the bare route API benchmarks compare with)."""
    return {"status": "ok"}


@router.get("/healthz")
def health(runtime: RuntimeDep) -> dict[str, Any]:
    """The store answers; the log head and each projection's lag."""
    statuses = runtime.runner.status()
    return {
        "status": "ok",
        "log_position": statuses[0].head if statuses else 0,
        "projections": {s.name: {"position": s.position, "lag": s.lag} for s in statuses},
    }
