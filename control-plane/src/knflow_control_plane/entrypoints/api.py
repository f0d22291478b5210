"""The REST API: ``create_app(settings)`` builds the FastAPI app; the lifespan starts the control plane."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..bootstrap import ControlPlane, build
from ..observability import start_tracing
from ..observability.metrics import CONTENT_TYPE
from ..service.health import StoreHealth
from ..settings import Settings
from . import (
    auth,
    docs_page,
    hooks,
    openapi,
    problems,
    routes_events,
    routes_keys,
    routes_projects,
    routes_runs,
    routes_secrets,
    routes_stream,
    routes_triggers,
    routes_workflows,
    ui_page,
)
from .objects_mount import OBJECTS_PATH, BodyLimits, ObjectsMount
from .routes_files import router as files_router
from .routes_live import router as live_router
from .routes_replies import router as replies_router

if TYPE_CHECKING:
    from ..observability._otel import Tracing


def create_app(
    settings: Settings,
    control_plane: ControlPlane | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    tracing: Tracing | None = None,
) -> FastAPI:
    """The control plane's ASGI app.

    Args:
        settings: the configuration.
        control_plane: an already wired control plane (tests, ``knflow dev``); built from ``settings`` otherwise.
        environ: where the ``OTEL_*`` variables are read (``os.environ`` by default); tracing stays
            off, and OpenTelemetry unimported, unless they ask for it.
        tracing: the tracing a given ``control_plane`` feeds, instrumented and shut down with the app.
    """
    if control_plane is None:
        tracing = start_tracing(os.environ if environ is None else environ)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cp = control_plane or build(settings, tracing)
        await cp.start()
        app.state.control_plane = cp
        try:
            yield
        finally:
            await cp.stop()
            if tracing is not None:
                tracing.shutdown()

    app = FastAPI(
        title="knflow control plane",
        version="0.1.0",
        lifespan=lifespan,
        description="Workflows of Python actions: register, deploy, run, observe.",
        docs_url=None,  # served by docs_page, from local assets
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
    )
    problems.install(app)
    openapi.install(app)
    docs_page.install(app)
    # the key first (when keys are on), then the project the request acts in
    guarded = [*([Depends(auth.authorize)] if settings.auth else []), Depends(auth.scope)]
    routers = (
        routes_workflows.router,
        routes_runs.router,
        routes_events.router,
        routes_keys.router,
        routes_secrets.router,
        routes_projects.router,
        hooks.router,
    )
    for router in routers:
        app.include_router(router, dependencies=guarded)
    app.include_router(files_router, dependencies=guarded)
    for router in (routes_stream.router, routes_triggers.router):  # what the web UI reads (docs/ui.md)
        app.include_router(router, dependencies=guarded)
    ui_page.install(app)
    app.include_router(replies_router)  # callbacks of functions: each carries its own reply token
    app.include_router(live_router)  # output of running functions: each carries its attempt's token

    @app.get("/health/liveness", include_in_schema=False)
    async def liveness() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/health/readiness", include_in_schema=False)
    async def readiness(request: Request) -> JSONResponse:
        """Ready once started and while the run store takes writes (probed at most once a second)."""
        cp: ControlPlane | None = getattr(request.app.state, "control_plane", None)
        if cp is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        health = getattr(request.app.state, "store_health", None)
        if health is None:
            health = request.app.state.store_health = StoreHealth(cp.store, cp.settings.project)
        problem = await health.problem()
        if problem is not None:
            return JSONResponse({"status": "store unavailable", "detail": problem}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False, dependencies=guarded)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics (text format); with auth on, scrapers send a key (``authorization`` of a
        Prometheus scrape config): workflow names and run counts are the project's business."""
        cp: ControlPlane = request.app.state.control_plane
        return Response(await cp.metrics.exposition(), media_type=CONTENT_TYPE)

    app.mount(OBJECTS_PATH, ObjectsMount())  # signed URLs: outside API-key auth, each URL its own limit
    app.add_middleware(BodyLimits, limit=settings.max_body_bytes, upload_limit=settings.max_file_bytes)
    if tracing is not None:
        tracing.instrument_app(app)
        tracing.instrument_httpx()
    return app
