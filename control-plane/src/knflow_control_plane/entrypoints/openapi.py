"""The OpenAPI document: one operationId per route, every error declared as the problem+json it is.

Routes declare their own errors with :func:`problems` (``responses=problems(404, 409)``); the errors any
route may answer (a missing key, a body over the limit, an invalid request, a rate limit, a store that is
down) are added to every operation here, and FastAPI's own validation-error schema, which the server never
sends, is replaced by :class:`knflow.rest.Problem`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from knflow.rest import PROBLEM_JSON, HookActionError, Problem, RunRequest, WorkflowRequest

_REF = "#/components/schemas/{model}"
#: models referenced by hand (problems(), bodies read by the route itself), not by FastAPI
HAND_REFERENCED = (Problem, HookActionError, WorkflowRequest, RunRequest)
_WHY = {
    400: "Malformed request (not a CloudEvent, not JSON, ...); the problem names the part at fault",
    401: "No valid API key: send `Authorization: Bearer <key>`",
    403: "The key's role does not allow this operation",
    404: "Not found",
    405: "The path exists for other methods (`Allow` lists them)",
    409: "Conflicts with the current state",
    413: "The request body is over the size limit",
    422: "Invalid request; `field` names the offending part and `errors` lists every one",
    429: "Rate limited: try again after `Retry-After` seconds",
    500: "The run failed (a step raised something other than `ActionError`)",
    502: "A build or a deploy failed",
    503: "A dependency (store, bus) is unavailable; sending the request again is safe",
}
_EVERYWHERE = (401, 403, 429, 503)


def operation_id(route: APIRoute) -> str:
    """A route's operationId: its function's name (``get_run``), so generated clients read well.

    Two routes with one function name would share an id; ``tests/unit/test_openapi.py`` refuses that.
    """
    return route.name


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    """One error response of an operation: problem+json with the :class:`~knflow.rest.Problem` schema."""
    schema = {"$ref": _REF.format(model="Problem")}
    return {"description": description or _WHY.get(status, "Error"), "content": {PROBLEM_JSON: {"schema": schema}}}


def problems(*statuses: int, also: dict[int | str, dict[str, Any]] | None = None) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: the problem+json errors it answers besides those of every route, and
    ``also`` (its other replies)."""
    return dict(also or {}) | {status: problem_response(status) for status in statuses}


def install(app: FastAPI) -> None:
    """Generate the document once, on first request, with every error declared."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = _with_problems(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_problems(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in HAND_REFERENCED:
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for item in document.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            statuses = _EVERYWHERE + ((422,) if operation.get("parameters") else ())
            for status in statuses + ((400, 413, 422) if operation.get("requestBody") else ()):
                responses.setdefault(str(status), problem_response(status))
            if "422" in responses:  # FastAPI's HTTPValidationError: the server sends a problem instead
                responses["422"] = problem_response(422)
    return document
