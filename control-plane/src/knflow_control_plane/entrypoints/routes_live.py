"""``POST /v1/runs/{run}/steps/{step}/attempts/{n}/live``: output a function sends while it runs.

Outside API-key auth, as the reply route: the function holds only its attempt's token (``Authorization:
Bearer``), checked here. The body is ``{"offset": int, "text": str}``; the answer says how many
characters of the attempt's output this replica holds.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from knflow import rest, wire

from ..errors import NotFound
from .context import plane
from .openapi import problems

router = APIRouter(prefix="/v1", tags=["runs"])


class LiveIn(BaseModel):
    """A piece of an attempt's output: ``text`` follows the first ``offset`` characters sent."""

    offset: int = Field(ge=0)
    text: str = Field(max_length=1024 * 1024)


@router.post(
    "/runs/{run_id}/steps/{step}/attempts/{number}/live",
    summary="Send a running attempt's output (for logs --follow)",
    response_model=rest.LiveReceived,
    responses=problems(404),
)
async def live_output(
    request: Request, run_id: str, step: str, body: LiveIn, number: int = Path(ge=1)
) -> dict[str, Any]:
    """Keep a piece of the output of a running attempt, for the followers of its run's logs."""
    cp = plane(request)
    if cp.live is None:
        raise NotFound("this control plane takes no live output", field="url")
    attempt_id = wire.invoke_id(run_id, step, number)
    size = cp.live.receive(run_id, attempt_id, request.headers.get("authorization"), body.offset, body.text)
    return {"attempt": attempt_id, "size": size}
