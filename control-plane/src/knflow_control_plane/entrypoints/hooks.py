"""HTTP triggers: ``/hooks/{path}`` starts a run and replies with its result if it comes in time.

The request publishes a ``dev.knflow.trigger.http`` CloudEvent whose id is the run id; the run is
created when the event is consumed (by any replica) and this request waits for it like any other.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from knflow import rest
from knflow_eventing import strict_json

from ..domain.access import Role
from ..domain.children import raised_by_action
from ..errors import InvalidRequest, MalformedBody, MethodNotAllowed, NotFound, RunCancelled, RunFailed
from .auth import authorize_hook
from .context import plane
from .limits import parse_body
from .openapi import problem_response, problems
from .routes_files import form_inputs

router = APIRouter()
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


async def _inputs(request: Request, project: str) -> dict[str, Any]:
    """The body's inputs (the query string's are read apart, as their declared types); files uploaded in a
    multipart body are ``project``'s (the hook's: a public hook's caller has none)."""
    inputs: dict[str, Any] = {}
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        form, _ = await form_inputs(request, project)  # file parts stored, streamed, and passed as File inputs
        return form
    raw = await request.body()
    if raw.strip():
        try:
            body = await parse_body(len(raw), strict_json.loads, raw)
        except strict_json.JsonRefused as exc:
            field = ".".join(["body", *(str(part) for part in exc.path)])
            raise MalformedBody(exc.reason, field=field) from exc
        except ValueError as exc:
            raise InvalidRequest(f"the body is not valid JSON: {exc}", field="body") from exc
        if not isinstance(body, dict):
            raise InvalidRequest("the body must be a JSON object of workflow inputs", field="body")
        inputs.update(body)
    return inputs


def _action_error(range_: str) -> dict[str, Any]:
    declared = problem_response(int(range_[0]) * 100, "An `ActionError(code)` of a step, or a problem")
    declared["content"]["application/json"] = {"schema": {"$ref": "#/components/schemas/HookActionError"}}
    return declared


# The replies are JSONResponses, declared here rather than validated by a response_model: this is the
# benchmarked trigger path (docs/performance.md), and the result is the workflow's own JSON anyway.
_REPLIES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The workflow's result (its trigger's `success_code`)", "content": {"application/json": {}}},
    201: {"description": "The workflow's result (its trigger's `success_code`)", "content": {"application/json": {}}},
    202: {"model": rest.HookAccepted, "description": "Still running (or an async trigger): poll `result_link`"},
    **problems(400, 404, 405, 409, 500),
    "4XX": _action_error("4XX"),
    "5XX": _action_error("5XX"),
}


async def hook(request: Request, path: str) -> Response:
    """Start the workflow routed at ``path``; reply with its result, its ``ActionError``, or 202."""
    cp = plane(request)
    route_path = "/" + path.strip("/")
    route = await cp.workflows.route(request.method, route_path)
    # Keyed hooks answer 401 before 404: a caller without a key learns of no path but the public ones.
    caller = await authorize_hook(request, public=route is not None and bool(route.trigger.get("public")))
    # A project's key calls its own project's keyed hooks: another's are as if they did not exist.
    mine = caller.project if caller is not None and caller.role is not Role.operator else None
    if route is not None and mine is not None and route.project != mine:
        route = None
    cp.access.hook_limits.take(route_path, f"the hook /hooks{route_path}")
    if route is None:
        # a project's key is told of its own project's methods only; keys off or public: any project's
        methods = await (cp.catalogue.of(mine) if mine else cp.catalogue).methods_at(route_path, anywhere=not mine)
        if methods:
            allowed = ", ".join(sorted(methods))
            raise MethodNotAllowed(f"{route_path} accepts {allowed}", allow=allowed)
        raise NotFound(f"no HTTP trigger at /hooks{route_path}", field="path")
    trigger = route.trigger
    # The run starts from the bus: publish its trigger event (inputs checked first), then wait for it.
    query = dict(request.query_params)
    run_id = await cp.intake.fire_http(route, await _inputs(request, route.project), request.method, route_path, query)
    link = f"{cp.settings.resolved_public_url}/v1/runs/{run_id}"
    headers = {"X-Knflow-Run-Id": run_id}
    accepted = JSONResponse(
        {"workflow_run_id": run_id, "result_link": link}, status_code=202, headers={"Location": link, **headers}
    )
    if float(trigger.get("timeout", 0)) <= 0:
        return accepted
    state = await cp.orchestrator.wait(run_id, float(trigger["timeout"]), just_published=True)
    if state is None or state[0] in ("running", "queued"):
        return accepted
    status, result, error = state
    if status == "succeeded":
        result = await cp.files.present(result)  # offloaded values fetched back, a download link per file
        return JSONResponse(result, status_code=int(trigger.get("success_code", 200)), headers=headers)
    error = error or {}
    code = error.get("code")
    if isinstance(code, int) and 400 <= code <= 599 and raised_by_action(error):
        body = {"error": error.get("message"), "code": code, "step": error.get("step"), "workflow_run_id": run_id}
        return JSONResponse(body, status_code=code, headers=headers)
    ended = RunFailed if status == "failed" else RunCancelled
    raise ended(
        f"step {error.get('step')!r} failed: {error.get('type')}: {error.get('message')}",
        workflow_run_id=run_id,
        step=error.get("step"),
        result_link=link,
    )


for _method in METHODS:  # one operation (and operationId) per method: a generated client has one call each
    router.add_api_route(
        "/hooks/{path:path}",
        hook,
        methods=[_method],
        name=f"hook_{_method.lower()}",
        summary=f"Trigger the workflow routed at {_method} /hooks/{{path}}",
        response_model=None,
        responses=_REPLIES,
    )
