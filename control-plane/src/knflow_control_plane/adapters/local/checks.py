"""What a local runtime process said about loading its action: its signature, or why it cannot be imported.

The runtime writes one marked JSON line either way (``knflow_runtime.check``); these helpers read the
part of a function's log file that one process wrote, and turn a load error into ``ActionLoadFailed``:
the step fails at once with the user's exception and traceback, where a crash would be retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sysconfig
from pathlib import Path
from typing import Any

from knflow.spec import ActionSpec
from knflow_control_plane.errors import ActionLoadFailed, DeployFailed
from knflow_runtime.check import find_report

from .forkserver import Child

#: the most of one process's output read back (an import that prints a lot still ends with its report)
MAX_OUTPUT = 64 * 1024
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_STDLIB = sysconfig.get_paths()["stdlib"]


def log_size(path: Path) -> int:
    """The size of a log file now (0 when it does not exist): where a new process's output will start."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def output_since(path: Path, offset: int, limit: int = MAX_OUTPUT) -> str:
    """What was appended to ``path`` after ``offset`` (its last ``limit`` bytes)."""
    try:
        with open(path, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            f.seek(max(offset, end - limit))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def load_failure(action: ActionSpec, output: str) -> ActionLoadFailed | None:
    """The ``ActionLoadFailed`` a process's output reports, or None when it reports no load error."""
    report = find_report(output)
    if report is None or report[0] != "load-error":
        return None
    data = report[1]
    trace = data.get("traceback") if isinstance(data.get("traceback"), str) else None
    where = _last_frame(trace)
    message = f"action {action.name} cannot be imported: {data.get('message')}" + (f" ({where})" if where else "")
    return ActionLoadFailed(
        message,
        action=action.name,
        error_type=str(data.get("type") or "ImportError"),
        traceback=trace,
        logs=_without_report(output, trace).strip()[-4000:],
    )


def _without_report(output: str, trace: str | None) -> str:
    # What the user's module printed while it was imported: the report (its traceback, the runtime's
    # line and the marked one) is in the error already, and would show twice.
    if trace:
        output = output.replace(trace, "")
    lines = output.splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("knflow-runtime"))


def signature_in(action: ActionSpec, output: str) -> dict[str, Any]:
    """The signature a check process reported.

    Raises:
        ActionLoadFailed: it reported a load error.
        DeployFailed: it reported nothing (it crashed, or printed no report).
    """
    failure = load_failure(action, output)
    if failure is not None:
        raise failure
    report = find_report(output)
    if report is None:
        tail = output.strip()[-2000:] or "no output"
        raise DeployFailed(f"action {action.name}: the check of its import ended without a report: {tail}")
    return report[1]


def _last_frame(trace: str | None) -> str:
    # The line of the user's code that failed, for a one-line message: the innermost frame that is not
    # in an installed package or the standard library (a library raising on the user's call points there).
    frames = _FRAME.findall(trace or "")
    if not frames:
        return ""
    path, line = next((f for f in reversed(frames) if not _installed(f[0])), frames[-1])
    return f"{os.path.basename(path)}, line {line}"


def _installed(path: str) -> bool:
    return "site-packages" in path or "dist-packages" in path or path.startswith(_STDLIB)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def wait_exit(child: Child, timeout: float) -> bool:
    """Wait for ``child`` to exit (SIGKILL after ``timeout`` seconds), reap it and close its pidfd.

    Returns:
        Whether it exited on its own within ``timeout``.
    """
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()
    loop.add_reader(child.pidfd, _settle, exited)
    on_time = False
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(exited), timeout)
            on_time = True
    finally:
        if not exited.done():  # late, or the deploy was cancelled: a check is nobody's once we stop waiting
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
        loop.remove_reader(child.pidfd)
        os.close(child.pidfd)
        if child.popen is not None:
            child.popen.wait()
    return on_time
