"""``/v1/runs``: start, list, get (in full or light), a step, logs, cancel, retry, approve, reject; items."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from knflow import rest

from ..domain.map_views import MAX_ITEMS_PAGE, ItemFilter
from ..domain.records import RunFilter
from ..errors import InvalidRequest
from ..service import run_views, versions
from . import log_stream
from .auth import principal_of
from .context import plane, project_of, runs_of, workflows_of
from .json_body import body_schema, read_model
from .limits import parse_body
from .openapi import problems
from .schemas import item_json, run_json

router = APIRouter(prefix="/v1")


@router.post(
    "/runs",
    status_code=201,
    response_model=rest.Run,
    responses=problems(404, 409),
    openapi_extra=body_schema(rest.RunRequest),
)
async def start_run(request: Request, wait: float = Query(0, ge=0, le=300)) -> dict[str, Any]:
    """Start a run of a deployed workflow; ``?wait=S`` waits up to S seconds for it to finish."""
    cp = plane(request)
    raw = await request.body()
    # A typed body, read here: FastAPI would parse and check megabytes of inputs on the event loop.
    body = await parse_body(len(raw), read_model, raw, request.headers.get("content-type"), rest.RunRequest)
    transition = await workflows_of(request).start(
        body.workflow, body.inputs, version=body.version, trigger={"kind": "manual", "at": time.time()}
    )
    if wait:
        await cp.orchestrator.wait(transition.run_id, wait)
    return await _run(request, transition.run_id)


async def _run(request: Request, run_id: str) -> dict[str, Any]:
    cp = plane(request)
    view = await runs_of(request).get(run_id)
    return await cp.files.present_run(run_json(view))  # offloaded payloads fetched back, file links


def _epoch(text: str | None, field: str) -> float | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise InvalidRequest(f"expected an RFC 3339 time, got {text!r}", field=field) from exc


_TIME = Query(None, json_schema_extra={"format": "date-time"}, description="An RFC 3339 time")


@router.get("/runs", response_model=rest.RunPage)
async def list_runs(
    request: Request,
    workflow: str | None = None,
    status: rest.RunStatus | None = None,
    since: str | None = _TIME,
    until: str | None = _TIME,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    waiting: bool | None = Query(None, description="Only the runs with (true) or without (false) a waiting step"),
    top_level: bool = Query(False, description="Leave out child runs (those sub-workflow steps started)"),
    parent_run_id: str | None = Query(None, description="Only the child runs of this run"),
) -> dict[str, Any]:
    """Runs, newest first, filtered by workflow, status, creation time, waiting steps and parent run;
    paginated by cursor."""
    times = _epoch(since, "since"), _epoch(until, "until")
    where = RunFilter(project_of(request), workflow, status, *times, cursor=cursor, limit=limit, waiting=waiting)
    page = await runs_of(request).page(replace(where, top_level=top_level, parent_run_id=parent_run_id))
    return {"runs": [run_json(r, with_steps=False) for r in page.runs], "next_cursor": page.next_cursor}


_OUTPUTS = Query(
    True,
    description="false: the light view, for a page that draws the run's shape: steps' `outputs` and attempts' "
    "`inputs`, `outputs` and `logs` left out (null, null, empty), the run's `inputs` and `result` too when "
    "offloaded or over 16 KiB (null, their size in `omitted`); nothing is read from the object store. "
    "`GET /v1/runs/{id}/steps/{step}` has a step's full record",
)


@router.get("/runs/{run_id}", response_model=rest.Run, responses=problems(404))
async def get_run(request: Request, run_id: str, outputs: bool = _OUTPUTS) -> dict[str, Any]:
    """A run with its steps and attempts; ``?outputs=false``: without their payloads (the light view)."""
    if outputs:
        return await _run(request, run_id)
    view = await runs_of(request).get(run_id)
    return await run_views.light_run(plane(request).files, run_json(view))


@router.get("/runs/{run_id}/steps/{step}", response_model=rest.Step, responses=problems(404))
async def get_step(request: Request, run_id: str, step: str) -> dict[str, Any]:
    """One step of a run, in full: its outputs, its attempts with their inputs, outputs and logs, its map's
    counts. 404 naming ``run_id`` or ``step``."""
    view = await runs_of(request).get(run_id)
    return await run_views.full_step(plane(request).files, run_json(view), step)


@router.get(
    "/runs/{run_id}/logs",
    response_model=rest.RunLogs,
    responses={**problems(404), 200: {"content": {log_stream.MEDIA_TYPE: {}}}},
)
async def run_logs(
    request: Request,
    run_id: str,
    follow: bool = Query(False, description="Stream the output as it is written (NDJSON) until the run ends"),
) -> dict[str, Any] | StreamingResponse:
    """What every attempt of the run printed or logged, step by step; ``?follow=true`` streams it."""
    run = await _run(request, run_id)
    if follow:
        stream = log_stream.follow(lambda: _run(request, run_id), plane(request).live)
        return StreamingResponse(stream, media_type=log_stream.MEDIA_TYPE)
    logs = [
        {"step": s["name"], "attempt": a["number"], "status": a["status"], "logs": a["logs"]}
        for s in run["steps"]
        for a in s["attempts"]
    ]
    return {"run_id": run_id, "logs": logs}


@router.post("/runs/{run_id}/cancel", response_model=rest.Run, responses=problems(404))
async def cancel_run(request: Request, run_id: str) -> dict[str, Any]:
    """Cancel a running run: nothing new starts, running attempts are abandoned."""
    await runs_of(request).cancel(run_id)
    return await _run(request, run_id)


@router.post("/runs/{run_id}/retry", response_model=rest.Run, responses=problems(404, 409))
async def retry_run(request: Request, run_id: str, body: rest.RetryRequest | None = None) -> dict[str, Any]:
    """Run a finished run again from the steps that did not succeed, or from ``step`` and everything
    downstream of it (even when they succeeded); the other steps' outputs are reused. With ``latest``: a
    new run of the version deployed now, with the run's inputs (the reply is the new run)."""
    step = body.step if body is not None else None
    if body is not None and body.latest:
        started = await versions.retry_on_latest(workflows_of(request), runs_of(request), run_id, step)
        return await _run(request, started.run_id)
    await runs_of(request).retry(run_id, step)
    return await _run(request, run_id)


@router.post("/runs/{run_id}/steps/{step}/approve", response_model=rest.Run, responses=problems(404, 409))
async def approve_step(
    request: Request, run_id: str, step: str, body: rest.DecisionRequest | None = None
) -> dict[str, Any]:
    """Approve the waiting approval ``step``: it succeeds (``approved``, ``by``, ``comment``,
    ``decided_at`` its outputs) and the run goes on. 409 when the step is not waiting for a decision."""
    return await _decide(request, run_id, step, True, body)


@router.post("/runs/{run_id}/steps/{step}/reject", response_model=rest.Run, responses=problems(404, 409))
async def reject_step(
    request: Request, run_id: str, step: str, body: rest.DecisionRequest | None = None
) -> dict[str, Any]:
    """Reject the waiting approval ``step``: it fails (``ApprovalRejected``, naming who), and the run with it.
    409 when the step is not waiting for a decision."""
    return await _decide(request, run_id, step, False, body)


#: an item's index, as ``next_cursor`` gives it
_CURSOR = re.compile(r"^[0-9]{1,9}$")


@router.get("/runs/{run_id}/steps/{step}/items", response_model=rest.MapItemPage, responses=problems(404))
async def list_items(
    request: Request,
    run_id: str,
    step: str,
    status: rest.ItemStatus | None = None,
    # the schema says what a cursor is (an item's index), so a client never sends one the server refuses;
    # checked below rather than by the pattern, for a message that names the cursor
    cursor: str | None = Query(
        None, description="The ``next_cursor`` of the page before", json_schema_extra={"pattern": _CURSOR.pattern}
    ),
    limit: int = Query(100, ge=1, le=MAX_ITEMS_PAGE),
) -> dict[str, Any]:
    """The items of a map step, in index order, of one status or all; paginated by cursor."""
    if cursor is not None and not _CURSOR.match(cursor):
        raise InvalidRequest(f"not a cursor of this list: {cursor!r}", field="cursor")
    after = -1 if cursor is None else int(cursor)
    page = await runs_of(request).items(ItemFilter(run_id, step, status=status, cursor=after, limit=limit))
    present = plane(request).files.present
    items = [{**item_json(i), "output": await present(i.output)} for i in page.items]
    return {"items": items, "next_cursor": page.next_cursor}


async def _decide(
    request: Request, run_id: str, step: str, approved: bool, body: rest.DecisionRequest | None
) -> dict[str, Any]:
    by = principal_of(request).key_id or "local"  # keys off (knflow dev): the person at the machine
    await runs_of(request).decide(run_id, step, approved, by, body.comment if body is not None else None)
    return await _run(request, run_id)
