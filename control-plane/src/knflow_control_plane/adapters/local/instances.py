"""Instances of the local backend: ``knflow_runtime`` processes on loopback ports, reached over
keep-alive HTTP/1.1 connections (:mod:`.http`)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from knflow.spec import ActionSpec
from knflow_control_plane.domain.environment import child_environment
from knflow_control_plane.errors import ActionLoadFailed, DeployFailed, FunctionUnavailable
from knflow_control_plane.ports import Artifact, HttpReply, SecretValues

from .checks import load_failure, log_size, output_since, signature_in, wait_exit
from .forkserver import Child, ForkServerError, spawn
from .http import ConnectionDroppedError, HttpConnection
from .zygotes import Zygotes


def free_port(host: str) -> int:
    """A TCP port that was free a moment ago (the runtime binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


#: Keep-alive connections an instance keeps once idle; more are opened for a burst, and closed after.
IDLE_CONNECTIONS = 64


class Instance:
    """One runtime process serving one action version, with its idle keep-alive connections.

    Args:
        child: the process.
        host: the address it listens on.
        port: its port.
        on_exit: called once, on the event loop, when the process exits.
        forked: whether the fork server started it.
    """

    def __init__(self, child: Child, host: str, port: int, on_exit: Callable[[Instance], None], *, forked: bool):
        self.child = child
        self.port = port
        self.url = f"http://{host}:{port}"
        self.forked = forked
        self.inflight = 0
        self.idle_since = time.monotonic()
        self.idle_timer: asyncio.TimerHandle | None = None
        self.alive = True
        self.returncode: int | None = None
        self.start_seconds = 0.0
        self._host = host
        self._prefix = f"POST / HTTP/1.1\r\nhost: {host}:{port}\r\n".encode()
        self._idle: collections.deque[HttpConnection] = collections.deque()
        self._on_exit = on_exit
        self._loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[None] = self._loop.create_future()
        self._loop.add_reader(child.pidfd, self._exit_seen)

    async def post(self, headers: bytes, body: bytes) -> HttpReply:
        """POST to ``/`` with ``headers`` (encoded lines, each ending in CRLF) and ``body``.

        Raises:
            ConnectionError: (or another ``OSError``) the process could not be reached or dropped the
                connection before it replied.
        """
        head = b"%scontent-length: %d\r\n%s\r\n" % (self._prefix, len(body), headers)
        return await self._exchange(head + body)

    async def ready(self) -> bool:
        """Whether ``GET /health/readiness`` answers 200 right now (False while the port is closed)."""
        request = f"GET /health/readiness HTTP/1.1\r\nhost: {self._host}:{self.port}\r\n\r\n".encode()
        try:
            reply = await self._exchange(request)
        except OSError:  # refused while the runtime starts
            return False
        return reply.status == 200

    async def _exchange(self, data: bytes) -> HttpReply:
        # A kept-alive connection may have been closed by the server just as it was reused: if no byte
        # of the reply came back, the request is sent once more on a new connection (the runtime
        # joins or replays a repeated ce-id, so a request it did read is not run twice).
        while self._idle:
            conn = self._idle.pop()
            if conn.closed:
                continue
            try:
                return await self._on(conn, data)
            except ConnectionDroppedError as exc:
                if exc.replied:
                    raise
        conn = await self._connect()
        return await self._on(conn, data)

    async def _on(self, conn: HttpConnection, data: bytes) -> HttpReply:
        try:
            reply = await conn.send(data)
        except BaseException:
            conn.close()  # a cancelled or failed exchange leaves the connection in an unknown state
            raise
        if not conn.closed and self.alive:
            if len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(conn)
            else:
                conn.close()  # after a burst (10,000 parked runs, say) the rest would idle until scale-down
        return reply

    async def _connect(self) -> HttpConnection:
        _transport, conn = await self._loop.create_connection(HttpConnection, self._host, self.port)
        return conn

    def _exit_seen(self) -> None:
        self._loop.remove_reader(self.child.pidfd)
        os.close(self.child.pidfd)
        if self.child.popen is not None:
            self.returncode = self.child.popen.poll()  # reap it
        self.alive = False
        self.close_connections()
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        self.exited.set_result(None)
        self._on_exit(self)

    def close_connections(self) -> None:
        """Drop the idle connections."""
        while self._idle:
            self._idle.pop().close()

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process, if it still runs."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.child.pidfd, signum)

    async def stop(self, grace: float) -> None:
        """SIGTERM (the runtime drains), then SIGKILL after ``grace`` seconds; returns once it exited."""
        if not self.alive:
            return
        self.close_connections()
        self.signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self.exited), grace)
        except TimeoutError:
            pass
        finally:
            self.signal(signal.SIGKILL)  # after the grace, or when the stop itself is cancelled
        await asyncio.shield(self.exited)

    async def kill(self) -> None:
        """SIGKILL, and return once the process exited."""
        self.signal(signal.SIGKILL)
        if self.alive:
            await asyncio.shield(self.exited)


class Launcher:
    """Starts instances of an action version and waits until they are ready.

    Args:
        log_dir: where each function's output is appended (``{action}-{version}.log``).
        host: the loopback address instances listen on.
        start_timeout: seconds an instance may take to become ready.
        zygotes: the fork servers that fork instances (one per interpreter); None to always spawn.
    """

    def __init__(self, log_dir: Path, *, host: str, start_timeout: float, zygotes: Zygotes | None):
        self.log_dir = log_dir
        self.host = host
        self.start_timeout = start_timeout
        self.zygotes = zygotes
        #: the values of the secrets an action names (``secrets=[...]``); None: no secrets to give
        self.secret_values: SecretValues | None = None
        #: every instance whose process has not exited yet, started or starting
        self.live: set[Instance] = set()

    def log_path(self, action: ActionSpec) -> Path:
        """The log file of ``action``'s instances."""
        return self.log_dir / f"{action.name}-{action.version}.log"

    async def start(self, action: ActionSpec, artifact: Artifact, on_exit: Callable[[Instance], None]) -> Instance:
        """Start one instance (fork server when it can, else a new interpreter) and wait for readiness.

        Args:
            action: the action version (entrypoint, concurrency, env).
            artifact: its build: the interpreter and the code folder.
            on_exit: called when the process exits, including while it starts.

        Raises:
            FunctionUnavailable: the process could not start, exited, or was not ready in time.
        """
        port = free_port(self.host)
        while any(i.port == port for i in self.live):  # bind(0) may hand a port out again once closed
            port = free_port(self.host)
        log = self.log_path(action)
        started = time.monotonic()
        offset = log_size(log)  # this start's output begins here (other instances may append too)
        extra = self._env(action, artifact) | {"KNFLOW_HOST": self.host, "PORT": str(port)}
        child, forked = await self._launch(action, artifact, extra, log)
        release = self.zygotes.release if forked and self.zygotes is not None else None
        instance = Instance(child, self.host, port, self._exited(on_exit, artifact.location, release), forked=forked)
        self.live.add(instance)
        try:
            await self._wait_ready(instance, action, log, offset)
        except BaseException:
            await instance.kill()  # a half-started instance is nobody's
            raise
        instance.start_seconds = time.monotonic() - started
        return instance

    async def check(self, action: ActionSpec, artifact: Artifact) -> dict[str, Any]:
        """Import the action where its instances will run (``KNFLOW_CHECK=1``) and return its signature.

        Raises:
            ActionLoadFailed: it cannot be imported (the user's exception and traceback in its fields).
            DeployFailed: the process could not start, or ended without a report.
        """
        log = self.log_dir / f"{action.name}-{action.version}.check-{os.getpid()}-{id(action):x}.log"
        child, forked = await self._launch(action, artifact, self._env(action, artifact) | {"KNFLOW_CHECK": "1"}, log)
        try:
            on_time = await wait_exit(child, self.start_timeout)
        finally:
            if forked and self.zygotes is not None:
                self.zygotes.release(artifact.location)
        output = output_since(log, 0)
        log.unlink(missing_ok=True)
        if not on_time:
            raise DeployFailed(
                f"action {action.name}: importing it took over {self.start_timeout:.0f}s: {output[-2000:]}"
            )
        return signature_in(action, output)

    @staticmethod
    def _env(action: ActionSpec, artifact: Artifact) -> dict[str, str]:
        # Configured by its variables, as a container starts it: no arguments, so no argparse to import.
        runtime = {"KNFLOW_ACTION": action.entrypoint, "KNFLOW_CONCURRENCY": str(action.options.get("concurrency", 1))}
        if artifact.code_path:
            runtime["KNFLOW_CODE_PATH"] = artifact.code_path
        return runtime

    async def _launch(
        self, action: ActionSpec, artifact: Artifact, runtime: dict[str, str], log: Path
    ) -> tuple[Child, bool]:
        """A runtime process (forked by its interpreter's zygote when it can) and whether it was forked.

        The runtime's own variables win over the action's env, as options would; the zygote already holds
        the allowlisted part of the plane's environment (``domain.environment``), a spawn gets it here.

        Raises:
            ActionLoadFailed: its interpreter cannot be run at all (removed, not executable).
            FunctionUnavailable: the process could not be started for another reason.
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        declared = action.options.get("env")
        named = list(action.options.get("secrets") or ())
        secrets = await self.secret_values(action.name, named) if named and self.secret_values is not None else None
        extra = child_environment({}, declared, secrets, runtime=runtime)
        child = await self._fork(artifact.location, [], extra, artifact.code_path, str(log))
        if child is not None:
            return child, True
        argv = [artifact.location, "-m", "knflow_runtime"]
        env = child_environment(os.environ, declared, secrets, runtime={**runtime, "PYTHONUNBUFFERED": "1"})
        try:
            return spawn(argv, env, artifact.code_path, str(log)), False
        except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
            raise ActionLoadFailed(
                f"action {action.name} cannot be started: {artifact.location}: {exc}", action=action.name
            ) from exc
        except OSError as exc:
            raise FunctionUnavailable(f"cannot start {artifact.location}: {exc}", action=action.name) from exc

    async def _fork(self, python: str, args: list[str], env: dict[str, str], cwd: str | None, log: str) -> Child | None:
        # None: spawn instead (no zygote for this interpreter yet, or it failed).
        zygote = await self.zygotes.acquire(python) if self.zygotes is not None else None
        if zygote is None or self.zygotes is None:
            return None
        try:
            pid, pidfd = await zygote.spawn(args, env, cwd, log)
        except BaseException as exc:
            self.zygotes.release(python)
            if isinstance(exc, ForkServerError):
                return None
            raise
        return Child(pid=pid, pidfd=pidfd)

    def _exited(
        self, on_exit: Callable[[Instance], None], python: str, release: Callable[[str], None] | None
    ) -> Callable[[Instance], None]:
        def exited(instance: Instance) -> None:
            self.live.discard(instance)
            if release is not None:
                release(python)  # its zygote may be stopped as least recently used now
            on_exit(instance)

        return exited

    async def close(self, timeout: float = 5.0) -> None:
        """Kill whatever instance still runs (the last resort of ``close()``) and wait for them."""
        instances = list(self.live)
        for instance in instances:
            instance.signal(signal.SIGKILL)
        if instances:
            await asyncio.wait([asyncio.shield(i.exited) for i in instances], timeout=timeout)

    async def _wait_ready(self, instance: Instance, action: ActionSpec, log: Path, offset: int) -> None:
        # Polled, with a fast backoff: a refused connect is cheap, and the runtime's ready line
        # would need a pipe that the control plane must then drain for the process's whole life.
        deadline = time.monotonic() + self.start_timeout
        delay = 0.002
        while not await instance.ready():
            if not instance.alive:
                await asyncio.sleep(0)  # lets the pidfd callback reap it, for the exit code
                output = output_since(log, offset)
                # An import error is the action's own: retrying the start would fail the same way.
                failure = load_failure(action, output)
                if failure is not None:
                    raise failure
                raise FunctionUnavailable(
                    f"{action.name} exited while starting (code {instance.returncode}): {output.strip()[-2000:]}",
                    action=action.name,
                )
            if time.monotonic() > deadline:
                raise FunctionUnavailable(
                    f"{action.name} not ready after {self.start_timeout:.0f}s: {output_since(log, offset)[-2000:]}",
                    action=action.name,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.008)


def check_artifact(action: ActionSpec, artifact: Artifact) -> None:
    """Check that ``artifact`` is a local build whose files exist (two stat calls).

    Raises:
        DeployFailed: naming what is wrong.
    """
    if artifact.kind != "venv":
        raise DeployFailed(f"the local backend runs venv artifacts, not {artifact.kind!r}", action=action.name)
    if not os.access(artifact.location, os.X_OK):
        raise DeployFailed(f"interpreter {artifact.location} is missing", action=action.name)
    if artifact.code_path is not None and not os.path.isdir(artifact.code_path):
        raise DeployFailed(f"code folder {artifact.code_path} is missing", action=action.name)
