"""The process: start (capture, load, listen, say ready), serve, drain on SIGTERM, exit.

Draining follows Knative's contract: readiness turns 503 and new invocations get 503 at once, while
the invocations in flight finish and pending async replies are sent (all within
``KNFLOW_DRAIN_SECONDS``); then the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from . import capture, tracing
from .app import App
from .check import report_load_error, report_signature
from .errors import LoadError, SettingsError
from .http import HttpServer
from .invoke import Invoker
from .loader import load_action
from .reply import Replier
from .settings import Settings

log = logging.getLogger("knflow_runtime")


async def serve(settings: Settings) -> None:
    """Serve the action of ``settings`` until SIGTERM or SIGINT, then drain.

    Prints one line to stderr once ready: ``knflow-runtime ready action=... host=... port=...``
    (with the port picked when ``settings.port`` is 0).

    Args:
        settings: what to serve and how.

    Raises:
        LoadError: when the action cannot be loaded.
        OSError: when the port cannot be bound.
    """
    routed = capture.install(settings.log_level)
    traced = None
    try:
        action = load_action(settings.action, settings.code_path)
        concurrency = settings.concurrency or action.options.concurrency
        traced = tracing.from_env(os.environ, action)  # None, and no OpenTelemetry import, unless OTEL_* asks
        invoker = Invoker(action, concurrency=concurrency, max_logs=settings.max_logs, tracing=traced)
        replier = Replier()
        app = App(action, invoker, replier)
        server = HttpServer(app, max_body=settings.max_body)
        port = await server.start(settings.host, settings.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        routed.stderr.write(
            f"knflow-runtime ready action={action.name} host={settings.host} port={port} "
            f"concurrency={concurrency} pid={os.getpid()}\n"
        )
        routed.stderr.flush()
        await stop.wait()
        await _drain(app, server, replier, settings.drain_seconds)
        invoker.close()
    finally:
        if traced is not None:
            traced.shutdown()
        routed.uninstall()


async def _drain(app: App, server: HttpServer, replier: Replier, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + seconds
    app.drain()
    # The listener stays open: a request arriving now gets a 503 rather than a refused connection.
    server.closing = True
    await app.wait_idle(max(give_up - loop.time(), 0.0))
    await replier.drain(max(give_up - loop.time(), 0.0))
    if app.inflight or replier.pending:
        log.warning(
            "drain gave up after %gs: %d invocations, %d replies left", seconds, len(app.inflight), replier.pending
        )
    await server.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the runtime as a process: ``python -m knflow_runtime --action module:function``.

    Args:
        argv: the arguments after the program name (``sys.argv[1:]`` when None).

    With ``KNFLOW_CHECK=1`` it only imports the action and prints its signature line (``check.py``).

    Returns:
        The exit code: 0 after a drain (or a check that loaded the action), 1 when the action cannot be
        loaded (its traceback and a ``load-error`` line on stderr) or the port bound, 2 for invalid settings.
    """
    try:
        settings = Settings.load(sys.argv[1:] if argv is None else argv, os.environ)
    except SettingsError as exc:
        print(f"knflow-runtime: {exc}", file=sys.stderr)
        return 2
    try:
        if settings.check:
            report_signature(load_action(settings.action, settings.code_path), sys.stdout)
        else:
            asyncio.run(serve(settings))
    except LoadError as exc:
        report_load_error(exc, sys.stderr)
        return 1
    except OSError as exc:
        print(f"knflow-runtime: {exc}", file=sys.stderr)
        return 1
    return 0
