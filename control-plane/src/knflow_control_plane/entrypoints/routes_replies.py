"""``POST /v1/runs/{run}/steps/{step}/attempts/{n}/reply``: results of attempts in async reply mode.

Outside API-key auth: the function holds no API key, only the attempt's reply token (``Authorization:
Bearer``), which this route checks. The path names the attempt by the parts of its id (the invoke's
``ce-id``) so that no segment carries a slash.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request

from knflow import rest, wire

from .context import plane
from .openapi import problems

router = APIRouter(prefix="/v1", tags=["runs"])


@router.post(
    "/runs/{run_id}/steps/{step}/attempts/{number}/reply",
    summary="Report an attempt's result (async reply mode)",
    response_model=rest.ReplyRecorded,
    responses=problems(400, 404, 409),
)
async def reply(request: Request, run_id: str, step: str, number: int = Path(ge=1)) -> dict[str, Any]:
    """Record the ``dev.knflow.step.succeeded|failed`` CloudEvent (HTTP binary mode) a function posts
    to the ``reply.url`` of its invoke event, exactly as a synchronous reply would have been."""
    cp = plane(request)
    attempt_id = wire.invoke_id(run_id, step, number)
    outcome = await cp.replies.receive(
        cp.orchestrator, attempt_id, request.headers.get("authorization"), request.headers, await request.body()
    )
    return {"attempt": attempt_id, "status": outcome.status.value}
