"""Per-request correlation ids and command timings, and the Prometheus endpoint."""

from __future__ import annotations

import time
from uuid import uuid4

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.observability import COMMAND_DURATION, correlation

CORRELATION_HEADER = b"x-correlation-id"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def metrics() -> Response:
    """This process's metrics in the Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class Correlation:
    """Gives every request a correlation id (the client's X-Correlation-ID, or a new one):
    logs carry it, events record it, the answer echoes it. Times each command by use case."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(CORRELATION_HEADER, b"").decode("latin-1")
        correlation_id = given[:100] or str(uuid4())
        token = correlation.set(correlation_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((CORRELATION_HEADER, correlation_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)
        finally:
            correlation.reset(token)
            endpoint = scope.get("endpoint")
            if scope["type"] == "http" and scope["method"] not in _READS and endpoint:
                COMMAND_DURATION.labels(endpoint.__name__).observe(time.perf_counter() - started)
