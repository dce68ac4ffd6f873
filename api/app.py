"""The API factory: `create_app(settings)` wires everything; nothing connects at import."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from adapters.event_hub import EventHub
from adapters.settings import Settings
from api import docs, openapi, problems
from api.observability import Correlation
from api.security import TokenService
from composition.contexts import CONTEXTS
from composition.runtime import Runtime


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the API; a given runtime is used (and left open), else one is built here."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = runtime is None
        # Route handlers run in worker threads that share one GIL: past a few, more
        # threads only add switching (a measured knob, SWITCHLOG_API_WORKER_THREADS).
        to_thread.current_default_thread_limiter().total_tokens = settings.api_worker_threads
        active = runtime or await run_in_threadpool(Runtime, settings)
        app.state.runtime = active
        app.state.tokens = TokenService(settings.jwt_key(), settings.jwt_ttl_seconds, active.clock)
        if settings.projections_in_process:
            active.start_projections()
        if settings.calls_in_process:  # state callbacks, and calls a restart left behind
            from composition import calls

            await run_in_threadpool(calls.start, active)
        if settings.billing_rater_in_process:
            active.start_rater()
            if settings.billing_closer_in_process:  # periods close by themselves
                from composition.billing import start_closer

                start_closer(active)
        if settings.billing_charger_in_process:
            from composition.billing import start_charger

            start_charger(active)
        if settings.billing_funds_in_process:
            from composition.balances import start_watcher

            start_watcher(active)
        hub = EventHub(active.source)
        app.state.hub = hub
        active.on_append.append(hub.wake)
        tail = asyncio.create_task(hub.run())
        try:
            yield
        finally:
            tail.cancel()
            active.on_append.remove(hub.wake)
            if own:
                await run_in_threadpool(active.close)

    app = FastAPI(
        title="switchlog",
        version="0.1.0",
        summary="Event-sourced cloud PBX and telecom billing backend",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    problems.install(app)
    openapi.install(app)
    docs.install(app)
    app.add_middleware(
        problems.BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        # a file upload has a limit of its own (plus room for the multipart framing)
        streamed={
            "/v1/cpe/uploads": settings.upload_max_bytes + 65536,
            "/v1/tariffs/{tariff_id}/rates/uploads": settings.upload_max_bytes + 65536,
        },
    )
    app.add_middleware(Correlation)
    for context in CONTEXTS:
        for router in context.routers():
            app.include_router(router)
    return app
