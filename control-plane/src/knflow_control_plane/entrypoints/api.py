"""The REST API: ``create_app(settings)`` builds the FastAPI app; the lifespan starts the control plane."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from ..bootstrap import ControlPlane, build
from ..settings import Settings
from . import hooks, problems, routes_keys, routes_runs, routes_workflows
from .limits import BodyLimit


async def _authenticate(request: Request) -> None:
    cp: ControlPlane = request.app.state.control_plane
    await cp.api_keys.check(request.headers.get("authorization"))


def create_app(settings: Settings, control_plane: ControlPlane | None = None) -> FastAPI:
    """The control plane's ASGI app.

    Args:
        settings: the configuration.
        control_plane: an already wired control plane (tests); built from ``settings`` otherwise.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cp = control_plane or build(settings)
        await cp.start()
        app.state.control_plane = cp
        try:
            yield
        finally:
            await cp.stop()

    app = FastAPI(
        title="knflow control plane",
        version="0.1.0",
        lifespan=lifespan,
        description="Workflows of Python actions: register, deploy, run, observe.",
    )
    problems.install(app)
    guarded = [Depends(_authenticate)] if settings.auth else []
    for router in (routes_workflows.router, routes_runs.router, routes_keys.router, hooks.router):
        app.include_router(router, dependencies=guarded)

    @app.get("/health/liveness", include_in_schema=False)
    async def liveness() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/health/readiness", include_in_schema=False)
    async def readiness(request: Request) -> JSONResponse:
        ready = getattr(request.app.state, "control_plane", None) is not None
        return JSONResponse({"status": "ready" if ready else "starting"}, status_code=200 if ready else 503)

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app
