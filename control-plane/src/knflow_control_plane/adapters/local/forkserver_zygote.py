"""The fork server's ("zygote's") own program: ``python -P forkserver_zygote.py FD``.

The control plane runs this file by path with ``python -P`` (so its folder, which holds a ``venv.py``,
does not shadow the standard library), on its own interpreter or on an action venv's: hence stdlib
imports only. It imports what every runtime process needs (``PRELOAD``), then forks one child per
request read from the inherited socket ``FD``, and answers with the child's pidfd
(:mod:`.forkserver` is the control plane's end).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1
#: The largest message either end sends (a request: argv, env, cwd, log path).
MAX_MESSAGE = 1 << 20
#: What a zygote imports before it forks; one that fails is skipped (the child will say why).
PRELOAD = (
    "asyncio",
    "json",
    "knflow",
    "knflow.wire",
    # `knflow` loads lazily; a user module that defines workflows or triggers next to its actions
    # needs these (and pydantic): preloaded once here, shared copy-on-write by every child.
    "knflow._action",
    "knflow._workflow",
    "knflow._triggers",
    "httptools",
    "cloudevents.core.bindings.http",
    "knflow_runtime",  # and then each of its modules (see _preload)
)


_prctl: Callable[..., int] | None = None


def load_prctl() -> None:
    """Load ``prctl`` from libc; call it in the parent, since a forked child must not load libraries."""
    global _prctl  # noqa: PLW0603 - one libc handle per process, shared by every spawn
    if _prctl is None and sys.platform == "linux":
        _prctl = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent(parent_pid: int) -> None:
    """In a freshly forked child: be SIGKILLed when the parent dies, even by SIGKILL (Linux).

    Args:
        parent_pid: the pid the child expects as its parent; if it already died, the child exits.
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl: nobody would kill us later
        os._exit(1)


def serve(fd: int) -> None:
    """Preload, say so, then fork a runtime process per request on ``fd`` until it closes."""
    load_prctl()  # the children need it; the zygote's own PDEATHSIG was set by the control plane
    sock = socket.socket(fileno=fd)
    missing = _preload()
    signal.signal(signal.SIGCHLD, _reap)
    # Ctrl-C reaches the whole process group; the control plane decides when the zygote stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock.send(json.dumps({"ready": True, "pid": os.getpid(), "missing": missing}).encode())
    while message := sock.recv(MAX_MESSAGE):
        request: dict[str, Any] = json.loads(message)
        sys.stdout.flush()
        sys.stderr.flush()  # or buffered output would be written once by each child too
        # SIGCHLD stays blocked until the pidfd is open: a child that dies at once must not be reaped
        # (and its pid reused) before the pidfd pins it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        try:
            pid = os.fork()
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            sock.send(json.dumps({"error": repr(exc)}).encode())
            continue
        if pid == 0:
            _child(sock, request)
        pidfd = os.pidfd_open(pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        try:
            socket.send_fds(sock, [json.dumps({"pid": pid}).encode()], [pidfd])
        finally:
            os.close(pidfd)


def _preload() -> list[str]:
    import importlib
    import pkgutil

    missing = []
    names = list(PRELOAD)
    with contextlib.suppress(ImportError):
        from knflow_runtime import tracing

        if tracing.enabled(os.environ):
            # Functions will trace: pay for the OpenTelemetry SDK once here, not in every child.
            names += [
                "opentelemetry.sdk.trace",
                "opentelemetry.sdk.trace.export",
                "opentelemetry.exporter.otlp.proto.http.trace_exporter",
            ]
    with contextlib.suppress(ImportError):
        import knflow_runtime

        # Every runtime module but __main__, which runpy must execute fresh in the child.
        names += [f"knflow_runtime.{m.name}" for m in pkgutil.iter_modules(knflow_runtime.__path__)]
    for name in names:
        if name.endswith(".__main__"):
            continue
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module that fails here is imported (and reported) by the child
            missing.append(name)
    return missing


def _reap(_signum: int, _frame: object) -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _child(sock: socket.socket, request: dict[str, Any]) -> None:
    code: int = 1
    try:
        zygote = os.getppid()
        sock.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        signal.signal(signal.SIGINT, signal.default_int_handler)
        die_with_parent(zygote)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        if request.get("cwd"):
            os.chdir(request["cwd"])
        os.environ.update(request["env"])
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        sys.argv = ["knflow_runtime", *request["argv"]]
        import runpy

        runpy.run_module("knflow_runtime", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child must never return into the zygote's loop
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
