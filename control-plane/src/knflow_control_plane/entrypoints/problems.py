"""Every error the API returns is an RFC 9457 problem (``application/problem+json``) naming what is wrong."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from knflow import SpecError
from knflow_eventing import MalformedCloudEvent

from ..errors import ControlPlaneError
from .limits import BodyTooLarge
from .statuses import status_of

log = logging.getLogger("knflow.api")
#: fields of an error that are not members of its problem: build logs (long, and in the build's own
#: record), and what goes in a header instead
_NOT_MEMBERS = frozenset({"logs", "allow"})
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def allowed_methods(request: Request) -> set[str]:
    """Every method some route of the app serves at the request's path."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return methods


def install(app: FastAPI) -> None:
    """Register the exception handlers that turn errors into problems."""

    @app.exception_handler(ControlPlaneError)
    async def _known(_: Request, exc: ControlPlaneError) -> JSONResponse:
        title = (type(exc).__doc__ or type(exc).__name__).strip().splitlines()[0]
        members = {k: v for k, v in exc.fields.items() if k not in _NOT_MEMBERS}
        reply = problem(status_of(exc), title, str(exc), **members)
        run_id = exc.fields.get("workflow_run_id")
        if isinstance(run_id, str):  # as the hooks' other replies about a run (ShuttingDown's 503)
            reply.headers["X-Knflow-Run-Id"] = run_id
        if "retry_after" in exc.fields:  # a rate limit (429)
            reply.headers["Retry-After"] = str(exc.fields["retry_after"])
        if "allow" in exc.fields:  # a method not allowed (405)
            reply.headers["Allow"] = str(exc.fields["allow"])
        return reply

    @app.exception_handler(MalformedCloudEvent)
    async def _malformed_event(_: Request, exc: MalformedCloudEvent) -> JSONResponse:
        extra = {"index": exc.index} if exc.index is not None else {}
        return problem(400, "Malformed CloudEvent", str(exc), field=exc.attribute, **extra)

    @app.exception_handler(SpecError)
    async def _spec(_: Request, exc: SpecError) -> JSONResponse:
        errors = [{"field": path, "message": message} for path, message in exc.problems]
        return problem(422, "Invalid workflow spec", str(exc), field=exc.path, errors=errors)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]} for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        return problem(
            422, "Invalid request", f"{first['field']}: {first['message']}", field=first["field"], errors=errors
        )

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return problem(413, "Payload too large", str(exc.detail), field="body")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's 400 is a body it could not read (not JSON, nested too deep for its parser)
        extra = {"field": "body"} if exc.status_code == 400 else {}
        response = problem(exc.status_code, str(exc.detail), str(exc.detail), **extra)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # Starlette's Allow names one route's methods; the path may have several
            response.headers["Allow"] = ", ".join(sorted(allowed_methods(request)))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return problem(500, "Internal error", f"{type(exc).__name__}: the control plane failed; see its logs")
