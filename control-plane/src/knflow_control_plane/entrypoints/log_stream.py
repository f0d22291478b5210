"""``GET /v1/runs/{run}/logs?follow=true``: a run's output as it is written, one JSON object per line.

Each line is ``{"step", "attempt", "status", "text"}`` with the text an attempt wrote since the last line
about it (the stored output of a finished attempt, the live output of a running one: see
``service/live_logs.py``), or with ``"text": ""`` when only its status changed; the last line is
``{"run_id", "status", "end": true}`` once the run is finished and everything was sent. The stream
looks again whenever output arrives, and at least every ``POLL`` seconds.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..service.live_logs import LiveLogs

#: seconds between two looks at the run when nothing wakes the stream
POLL = 0.5
MEDIA_TYPE = "application/x-ndjson"

ReadRun = Callable[[], Awaitable[dict[str, Any]]]


async def follow(read_run: ReadRun, live: LiveLogs | None) -> AsyncIterator[bytes]:
    """The lines of one follower, until the run is finished (see the module's docstring)."""
    sent: dict[str, int] = {}
    statuses: dict[str, str] = {}
    while True:
        run = await read_run()
        for line in _new_lines(run, live, sent, statuses):
            yield (json.dumps(line) + "\n").encode()
        if run["status"] not in ("running", "queued"):
            yield (json.dumps({"run_id": run["id"], "status": run["status"], "end": True}) + "\n").encode()
            return
        if live is not None:
            await live.changed(POLL)
        else:
            import asyncio

            await asyncio.sleep(POLL)


def _new_lines(
    run: dict[str, Any], live: LiveLogs | None, sent: dict[str, int], statuses: dict[str, str]
) -> list[dict[str, Any]]:
    lines = []
    for step in run.get("steps") or []:
        for attempt in step.get("attempts") or []:
            key, status = str(attempt["id"]), str(attempt["status"])
            text = _text(attempt, live)
            new = text[sent.get(key, 0) :]
            if new or statuses.get(key) != status:
                lines.append({"step": step["name"], "attempt": attempt["number"], "status": status, "text": new})
            sent[key] = max(sent.get(key, 0), len(text))
            statuses[key] = status
    return lines


def _text(attempt: dict[str, Any], live: LiveLogs | None) -> str:
    stored = attempt.get("logs")
    stored = "\n".join(map(str, stored)) if isinstance(stored, list) else str(stored or "")
    if attempt["status"] == "running" and live is not None:
        return live.text(str(attempt["id"])) or stored
    return stored
