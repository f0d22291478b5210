"""``GET /v1/stream``: run and step changes as Server-Sent Events, live.

Each change is one ``event: change`` whose data is JSON ``{"kind", "run_id", "type", "step",
"run_status", "data"}`` (a :class:`knflow.rest.RunChange`, as is the data of every event);
``event: resync`` says changes were dropped (the client fell behind) and ``event: hello`` opens every
stream. A stream ends by itself after ``STREAM_SECONDS``: clients reconnect
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

from knflow import rest

from ..errors import ControlPlaneError
from ..service.run_feed import Change, Listener, RunFeed
from ..service.runs import Runs
from .context import plane, runs_of
from .openapi import problems

router = APIRouter(prefix="/v1")

#: Seconds one stream lasts before the client is asked to reconnect (the ``retry:`` field, in ms, is 0).
STREAM_SECONDS = 10.0


#: The reply as OpenAPI describes it: each event is ``hello``, ``change`` or ``resync`` with a JSON ``data``
#: that is a :class:`knflow.rest.RunChange`.
_EVENT_STREAM = {
    "description": "Server-Sent Events: `hello`, then a `change` per lifecycle event, or `resync`",
    "content": {
        "text/event-stream": {
            "schema": {
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {"enum": ["hello", "change", "resync"]},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": rest.RunChange.model_json_schema(),
                    },
                    "retry": {"type": "integer"},
                },
            }
        }
    },
}


def _frame(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses=problems(404, also={200: _EVENT_STREAM}),
)
async def stream(request: Request, run_id: str | None = Query(None, min_length=1)) -> StreamingResponse:
    """Run and step changes as they happen (``text/event-stream``); ``run_id`` narrows to one run."""
    cp = plane(request)
    if run_id is not None:
        await runs_of(request).check(run_id)
    listener = cp.feed.listen(run_id)
    return StreamingResponse(
        _events(cp.feed, listener, _Owners(runs_of(request)), cp.settings.worker_name),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


class _Owners:
    """Which runs belong to the caller's project: a stream shows no other project's run, not even its id.

    Learnt a batch of changes at a time (one query for the runs a batch names first), kept for the
    stream's life (a few seconds).
    """

    def __init__(self, runs: Runs):
        self.runs = runs
        self._known: dict[str, bool] = {}

    async def keep(self, changes: list[Change]) -> list[Change]:
        unknown = {c.run_id for c in changes if c.kind != "resync" and c.run_id not in self._known}
        if unknown:
            mine = await self.runs.owned(sorted(unknown))
            self._known.update((run_id, run_id in mine) for run_id in unknown)
        return [c for c in changes if c.kind == "resync" or self._known[c.run_id]]


async def _events(feed: RunFeed, listener: Listener, owners: _Owners, replica: str) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    end = loop.time() + STREAM_SECONDS
    try:
        hello = {
            "kind": "hello",
            "run_id": listener.run_id or "",
            "data": {"replica": replica, "seconds": STREAM_SECONDS},
        }
        yield b"retry: 0\n" + _frame("hello", hello)
        while (left := end - loop.time()) > 0:
            try:
                batch = [await asyncio.wait_for(listener.queue.get(), left)]
            except TimeoutError:
                break
            while not listener.queue.empty():
                batch.append(listener.queue.get_nowait())
            if any(change.kind == "closed" for change in batch):
                break
            for change in await owners.keep(batch):
                yield _frame(change.kind if change.kind == "resync" else "change", asdict(change))
    except ControlPlaneError:
        return  # the store could not say whose runs these are: the client reconnects and reads again
    finally:
        feed.leave(listener)
