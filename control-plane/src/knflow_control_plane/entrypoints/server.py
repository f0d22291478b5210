"""``knflow dev`` and the container's entry point: the control plane in the foreground.

It stops in two steps. The first Ctrl-C (or SIGTERM) drains: nothing new is claimed, requests waiting
for a run are answered at once (503, with the run id), and the steps running may finish, each until
its deadline; the exit status is then 0. A second Ctrl-C stops at once (exit status 130): the steps
still running are abandoned, and retried when their leases expire after the next start. A third exits
without any clean-up.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI

from ..adapters.local.backend import LocalBackend
from ..bootstrap import build
from ..errors import ControlPlaneError
from ..observability import logs, start_tracing
from ..settings import Settings, SettingsError, load_settings
from .api import create_app
from .dev_console import DevConsole

if TYPE_CHECKING:
    from ..bootstrap import ControlPlane

#: Exit status when the port is taken (another ``knflow dev`` runs there?).
EXIT_ADDRESS_IN_USE = 4
#: Exit status after a second Ctrl-C (128 + SIGINT, as a shell reports a process it interrupted).
EXIT_INTERRUPTED = 130
#: Seconds uvicorn waits for requests still being answered once stopping (waits for runs end at once).
REQUESTS_GRACE_S = 5


class StartFailed(RuntimeError):
    """The control plane cannot start; the message says why in one line (no traceback for a person)."""


class ListenFailed(StartFailed):
    """The control plane cannot listen where it was asked to; the message says where and why."""


class AddressInUse(ListenFailed):
    """Something (another ``knflow dev``?) already listens on the host and port."""


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (uvicorn listens on it), before anything else starts.

    Raises:
        AddressInUse: the port is taken.
        ListenFailed: the host does not resolve, or binding failed otherwise.
    """
    where = f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ListenFailed(f"cannot listen on {where}: {exc}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restarts need no wait
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            hint = "another `knflow dev`?); stop it or choose another port with --port"
            raise AddressInUse(f"cannot listen on {where}: the address is in use ({hint}") from None
        raise ListenFailed(f"cannot listen on {where}: {exc.strerror or exc}") from None
    return sock


def serve(
    host: str = "127.0.0.1", port: int = 8080, state_dir: str | Path = ".knflow", *, console: bool = False
) -> int:
    """Run the control plane until stopped; state (SQLite, builds, logs) stays under ``state_dir``.

    Logs go to stderr as JSON lines, or as text when ``KNFLOW_LOG_FORMAT=text`` or, by default, when
    stderr is a terminal (``knflow dev`` in a shell stays readable; under a supervisor it is JSON).
    With ``console``, lines for a person go to stdout (:class:`DevConsole`).

    Returns:
        The exit status: 0 after a drained stop, :data:`EXIT_INTERRUPTED` after a stop at once.

    Raises:
        SettingsError: a ``KNFLOW_*`` variable does not parse (named in the message).
        StartFailed: the host and port cannot be listened on (:class:`AddressInUse`: taken), the state
            dir cannot be written, or a setting names nothing known.
    """
    settings = load_settings(host=host, port=port, state_dir=Path(state_dir))
    os.environ["KNFLOW_STATE_DIR"] = str(settings.state_dir)  # absolute, for anything started from here
    sock = listen(host, port)
    logs.configure(logs.resolve_format(os.environ.get("KNFLOW_LOG_FORMAT")))
    if console:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # "Running upgrade ..." means nothing to a user
    try:
        app = _app(settings)
    except BaseException:
        sock.close()
        raise
    # log_config=None: uvicorn's own records go through the handler above, in the same format.
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=REQUESTS_GRACE_S,
    )
    server = DrainingServer(config, app, settings, DevConsole(sys.stdout) if console else None)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return server.exit_status


def _app(settings: Settings) -> FastAPI:
    """The app, with its control plane wired here rather than in the app's start-up: a state dir that
    cannot be written or a setting naming nothing known is then one line, not uvicorn's traceback.

    Raises:
        StartFailed: saying what is wrong.
    """
    try:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(settings.state_dir, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "permission denied")
    except OSError as exc:
        raise StartFailed(f"cannot keep state in {settings.state_dir}: {exc.strerror or exc}") from None
    tracing = start_tracing(os.environ)
    try:
        plane = build(settings, tracing)
    except (ControlPlaneError, OSError) as exc:
        raise StartFailed(f"cannot start: {exc}") from None
    return create_app(settings, plane, environ=os.environ, tracing=tracing)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, stopping in two steps (see the module's docstring) and telling the console.

    Args:
        config: uvicorn's configuration.
        app: the control plane's app (``config.app``), whose lifespan puts the control plane in its state.
        settings: the control plane's settings (where it listens and keeps its state, for the console).
        console: where lines for a person go, or None.
    """

    def __init__(self, config: uvicorn.Config, app: FastAPI, settings: Settings, console: DevConsole | None):
        super().__init__(config)
        self.app = app
        self.settings = settings
        self.console = console
        self.exit_status = 0
        self._signals = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start the app, listen, then say where."""
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)
        plane = self._plane()
        if plane is not None and self.console is not None and not self.should_exit:
            plane.workflows.on_deploy(self.console.on_deploy)
            plane.orchestrator.on_transition(self.console.on_transition)
            url = f"http://{self.settings.host}:{self.settings.port}"
            self.console.listening(url, self.settings.state_dir, self.settings.resolved_database_url)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGINT or SIGTERM: the first drains, the second stops now, a third exits at once.

        uvicorn's own handler is not called: it would raise the signal again once stopped, and the
        KeyboardInterrupt would end in a traceback.
        """
        self._signals += 1
        if self._signals >= 3:
            os._exit(EXIT_INTERRUPTED)
        self.should_exit = True
        if self._signals == 2:
            self.force_exit = True  # uvicorn stops waiting for requests; shutdown() still stops the plane
            self.exit_status = EXIT_INTERRUPTED
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._drain if self._signals == 1 else self._hurry)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown, then the app's even when a second Ctrl-C made uvicorn skip it."""
        await super().shutdown(sockets)
        lifespan: Any = getattr(self, "lifespan", None)
        shutdown_done = getattr(lifespan, "shutdown_event", None)
        if self.force_exit and isinstance(shutdown_done, asyncio.Event) and not shutdown_done.is_set():
            await lifespan.shutdown()
        if self.console is not None:
            self.console.stopped(forced=self.exit_status == EXIT_INTERRUPTED)

    def _plane(self) -> ControlPlane | None:
        plane: ControlPlane | None = getattr(self.app.state, "control_plane", None)
        return plane

    def _drain(self) -> None:
        plane = self._plane()
        running, seconds = plane.orchestrator.drain() if plane is not None else (0, 0.0)
        if self.console is not None:
            self.console.stopping(running, seconds)

    def _hurry(self) -> None:
        plane = self._plane()
        if plane is None:
            return
        plane.orchestrator.hurry()
        if isinstance(plane.backend, LocalBackend):
            plane.backend.stop_grace = 0.0  # local functions get SIGKILL, not the time to finish a request


def main() -> None:
    """Entry point reading everything from ``KNFLOW_*`` variables (a bad one: a message, exit status 2)."""
    try:
        settings = load_settings()
        status = serve(settings.host, settings.port, settings.state_dir)
    except (SettingsError, StartFailed) as exc:
        print(f"knflow: {exc}", file=sys.stderr)
        sys.exit(EXIT_ADDRESS_IN_USE if isinstance(exc, AddressInUse) else 2)
    sys.exit(status)


if __name__ == "__main__":
    main()
