"""Helpers of the local backend's end-to-end tests: actions, invoke events, process checks."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from knflow.spec import ActionSpec
from knflow_control_plane.ports import CodeBundle, HttpReply, HttpRequest

ACTIONS = b"""
import asyncio
import os
import sys
import time


def noop(**inputs):
    return {"inputs": inputs, "pid": os.getpid()}


async def nap(seconds: float = 0.2, tag: int = 0):
    started = time.monotonic()
    await asyncio.sleep(seconds)
    return {"pid": os.getpid(), "ppid": os.getppid(), "tag": tag, "started": started, "finished": time.monotonic()}


def uses_six():
    import six

    return {
        "six": six.__version__,
        "prefix": sys.prefix,
        "executable": sys.executable,
        "pid": os.getpid(),
        "ppid": os.getppid(),
    }
"""
BROKEN = b"import no_such_module_anywhere\n\ndef run():\n    return {}\n"
_attempts = itertools.count(1)
CODE = CodeBundle(files={"acts.py": ACTIONS, "broken.py": BROKEN}, digest="e2e-local-backend-1")


def spec(entrypoint: str, *, name: str = "act", version: str = "v1", **options: Any) -> ActionSpec:
    """An action version served from ``CODE``."""
    return ActionSpec(name=name, version=version, entrypoint=entrypoint, options=options)


def invoke_request(inputs: dict[str, Any] | None = None, *, run: str = "r1", step: str = "s") -> HttpRequest:
    """A ``dev.knflow.step.invoke`` CloudEvent in binary mode, written by hand.

    Each one is a new attempt (a new ``ce-id``): the runtime answers a repeated id from its cache.
    """
    deadline = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "dev.knflow.step.invoke",
        "ce-source": f"/runs/{run}",
        "ce-subject": step,
        "ce-id": f"{run}/{step}/{next(_attempts)}",
        "content-type": "application/json",
    }
    return HttpRequest(headers=headers, body=json.dumps({"inputs": inputs or {}, "deadline": deadline}).encode())


def outputs(reply: HttpReply) -> dict[str, Any]:
    """The outputs of a succeeded reply (asserting it is one)."""
    assert reply.status == 200, reply.body
    assert reply.headers["ce-type"] == "dev.knflow.step.succeeded", reply.body
    result: dict[str, Any] = json.loads(reply.body)["outputs"]
    return result


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone before open, or between open and read
        return False


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def cmdline(pid: int) -> list[str]:
    """The command line of ``pid`` (empty once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [arg.decode() for arg in f.read().split(b"\0")[:-1]]
    except (FileNotFoundError, ProcessLookupError):
        return []


async def wait_for(predicate: Callable[[], object], seconds: float = 10.0) -> bool:
    """Poll ``predicate`` every 20 ms until it is true or ``seconds`` have passed; its last value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())
