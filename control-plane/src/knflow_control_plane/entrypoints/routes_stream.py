"""``GET /v1/stream``: run and step changes as Server-Sent Events, live.

Each change is one ``event: change`` whose data is JSON ``{"kind", "run_id", "type", "step",
"run_status", "data"}``; ``event: resync`` says changes were dropped (the client fell behind) and
``event: hello`` opens every stream. A stream ends by itself after ``STREAM_SECONDS``: clients reconnect
at once and read what they show again, which also brings in what other replicas changed meanwhile, and
a server that is stopping never waits on an open browser tab for longer than that.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from ..service.run_feed import Listener, RunFeed
from .routes_workflows import plane

router = APIRouter(prefix="/v1")

#: Seconds one stream lasts before the client is asked to reconnect (the ``retry:`` field, in ms, is 0).
STREAM_SECONDS = 10.0


def _frame(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
)
async def stream(request: Request, run_id: str | None = Query(None, min_length=1)) -> StreamingResponse:
    """Run and step changes as they happen (``text/event-stream``); ``run_id`` narrows to one run."""
    cp = plane(request)
    feed: RunFeed = cp.feed
    listener = feed.listen(run_id)
    return StreamingResponse(
        _events(feed, listener, cp.settings.worker_name),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def _events(feed: RunFeed, listener: Listener, replica: str) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    end = loop.time() + STREAM_SECONDS
    try:
        yield b"retry: 0\n" + _frame("hello", {"replica": replica, "seconds": STREAM_SECONDS})
        while (left := end - loop.time()) > 0:
            try:
                change = await asyncio.wait_for(listener.queue.get(), left)
            except TimeoutError:
                break
            if change.kind == "closed":
                break
            yield _frame(change.kind if change.kind == "resync" else "change", asdict(change))
    finally:
        feed.leave(listener)
