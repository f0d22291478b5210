"""Actions the e2e tests serve with ``python -m knflow_runtime --code-path tests/e2e/runtime``.

One runtime process serves one action, so related behaviours share an action that dispatches on
``op``: ``sync_ops`` runs in the runtime's thread pool, ``async_ops`` on its event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

from knflow import ActionError, File, InputValidationError, action

log = logging.getLogger("fixture")


class FixtureError(Exception):
    """A failure of user code that is neither an ActionError nor a builtin."""


@action
def greet(name: str, times: int = 1) -> dict[str, Any]:
    print(f"greeting {name}")
    log.info("greeted %s", name)
    return {"greeting": f"hello {name}" * times}


def plain(value: int) -> int:
    """Not decorated: the runtime wraps it with knflow.action."""
    return value * 2


_lock = threading.Lock()
_state = {"active": 0, "max_active": 0, "runs": 0}


def _enter() -> None:
    with _lock:
        _state["active"] += 1
        _state["max_active"] = max(_state["max_active"], _state["active"])


def _leave() -> dict[str, int]:
    with _lock:
        _state["active"] -= 1
        _state["runs"] += 1
        return dict(_state)


def _common(op: str, code: int, tag: str) -> Any:
    if op == "fail":
        raise ActionError(code, f"failed on purpose with {code}")
    if op == "boom":
        raise FixtureError(f"boom {tag}")
    if op == "invalid":
        raise InputValidationError("must be positive", field="amount")
    if op == "unjson":
        return {"fine": 1, "bad": {1, 2}}
    if op == "scalar":
        return [tag, 42]
    return None


@action(timeout="10s")
def sync_ops(op: str, seconds: float = 0.0, tag: str = "", code: int = 500, lines: int = 5) -> Any:
    common = _common(op, code, tag)
    if common is not None:
        return common
    _enter()
    try:
        if op == "chatty":
            for index in range(lines):
                print(f"{tag} print {index}")
                log.warning("%s log %d", tag, index)
                time.sleep(seconds)
        elif op in ("sleep", "probe"):
            time.sleep(seconds)
    finally:
        state = _leave()
    return {"tag": tag, "max_active": state["max_active"], "runs": state["runs"]}


@action(timeout="10s")
async def async_ops(op: str, seconds: float = 0.0, tag: str = "", code: int = 500, lines: int = 5) -> Any:
    common = _common(op, code, tag)
    if common is not None:
        return common
    _enter()
    try:
        if op == "chatty":
            for index in range(lines):
                print(f"{tag} print {index}")
                log.warning("%s log %d", tag, index)
                await asyncio.sleep(seconds)
            # Work handed to a thread from the coroutine logs into the same invocation.
            await asyncio.to_thread(print, f"{tag} from a thread")
        elif op in ("sleep", "probe"):
            await asyncio.sleep(seconds)
    finally:
        state = _leave()
    return {"tag": tag, "max_active": state["max_active"], "runs": state["runs"]}


@action
def copy_file(source: File, extra: dict[str, Any] | None = None, bare: bool = False) -> dict[str, Any]:
    assert source.path is not None, "the runtime downloads File inputs"
    text = source.path.read_text()
    nested = extra["nested"][0] if extra else None
    nested_text = nested.read_bytes().decode() if isinstance(nested, File) else None
    out = source.path.parent / "copy.txt"
    out.write_text(text.upper())
    if bare:
        return {"unstored": File.from_bytes(b"no slot", name="x.bin")}
    return {
        "copy": File(out),
        "note": File.from_bytes(b"from memory", name="note.txt"),
        "passthrough": source,
        "nested_text": nested_text,
        "workdir": str(Path(source.path).parent.parent),
    }
