"""How the local backend starts runtime processes: a plain spawn, or a fork server ("zygote").

``python -m knflow_runtime`` spends most of its start importing: asyncio, the SDK (pydantic), the
CloudEvents codec, the HTTP server. The zygote imports all of that once, then forks one child per
instance on request; a child only loads the action and serves. A zygote runs on one interpreter (the
control plane's, or an action venv's: see :mod:`.zygotes`); instances are spawned while it is down.
Either way the child dies with its parent (``PR_SET_PDEATHSIG``).

The zygote's program is :mod:`.forkserver_zygote`, run by path; this is the control plane's end. The
two ends talk over an inherited ``SOCK_SEQPACKET`` socket pair: one JSON message per request, and each
reply carries the child's pidfd (``SCM_RIGHTS``), which tells the control plane when the child exits
though it is not its parent, with no pid-reuse race.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import forkserver_zygote
from .forkserver_zygote import MAX_MESSAGE, die_with_parent, load_prctl

_RETRY_AFTER_S = 30.0
_SPAWN_TIMEOUT_S = 10.0


class ForkServerError(RuntimeError):
    """The fork server is not running or could not start an instance; the caller spawns instead."""


@dataclass
class Child:
    """A started runtime process.

    Attributes:
        pid: its process id.
        pidfd: a pidfd for it (readable once it exits), owned by the instance.
        popen: the ``Popen`` when the control plane is its parent (it must reap it), else None
            (a fork-server child, reaped by the zygote).
    """

    pid: int
    pidfd: int
    popen: subprocess.Popen[bytes] | None = None


def spawn(argv: list[str], env: dict[str, str], cwd: str | None, log_path: str) -> Child:
    """Start ``argv`` as a child that dies with the control plane, its output appended to ``log_path``.

    Raises:
        OSError: the program could not be started.
    """
    load_prctl()
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=cwd,
            env=env,
            start_new_session=False,  # Ctrl-C on the control plane's terminal reaches the functions too
            preexec_fn=_child_of(os.getpid()),  # noqa: PLW1509 - it only calls prctl, which is fork-safe
        )
    # Safe from pid reuse: an unreaped child keeps its pid.
    return Child(pid=popen.pid, pidfd=os.pidfd_open(popen.pid), popen=popen)


class ForkServer:
    """The control plane's end of a zygote.

    Args:
        python: the interpreter the zygote runs (instances it forks run on it too).
        log_path: where the zygote's own output goes.
        env: the environment of the zygote, which its children inherit (plus their own variables).
        start_timeout: seconds the zygote may take to import everything.
    """

    def __init__(self, python: str, log_path: Path, *, env: dict[str, str] | None = None, start_timeout: float = 60.0):
        self.python = python
        self._env = env
        self._log_path = log_path
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._lock = asyncio.Lock()
        self._starting: asyncio.Task[None] | None = None
        self._failed_at = -_RETRY_AFTER_S

    @property
    def alive(self) -> bool:
        """Whether the zygote has imported everything and answers requests."""
        return self._sock is not None and self._proc is not None and self._proc.poll() is None

    @property
    def starting(self) -> bool:
        """Whether a start is under way."""
        return self._starting is not None and not self._starting.done()

    @property
    def pid(self) -> int | None:
        """The zygote's process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def begin(self) -> asyncio.Task[None]:
        """Start the zygote in the background unless it runs or is starting; the task of that start.

        Raises:
            ForkServerError: it failed to start less than 30 s ago (retried only after a pause, or
                every cold start would pay for it).
        """
        if self._starting is None or (self._starting.done() and not self.alive):
            if time.monotonic() - self._failed_at < _RETRY_AFTER_S:
                raise ForkServerError("the fork server failed recently")
            self._starting = asyncio.create_task(self._start())
            self._starting.add_done_callback(_retrieve)  # a background start may have nobody awaiting it
        return self._starting

    async def start(self) -> None:
        """Start the zygote if it is not running, and wait until it has imported everything.

        Raises:
            ForkServerError: it could not start.
        """
        if not self.alive:
            await asyncio.shield(self.begin())

    async def _start(self) -> None:
        try:
            await self._launch()
        except ForkServerError:
            self._failed_at = time.monotonic()
            raise

    async def _launch(self) -> None:
        await self._stop()
        load_prctl()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        self._proc = _popen_zygote(self.python, self._log_path, theirs.fileno(), self._env)
        theirs.close()
        try:
            async with asyncio.timeout(self._start_timeout):
                hello, fds = await _receive(ours)
            _close_all(fds)
            answer = json.loads(hello)
            if not answer.get("ready"):
                raise ForkServerError(f"unexpected hello {hello!r}")
            if "knflow_runtime" in answer.get("missing", ()):  # its children could not run it either
                raise ForkServerError(f"{self.python} cannot import knflow_runtime")
        except BaseException as exc:
            ours.close()
            await self._stop()
            if isinstance(exc, TimeoutError | ForkServerError):
                raise ForkServerError(f"the fork server did not start: {exc!r}") from exc
            raise
        self._sock = ours  # only now: `alive` means ready to fork

    async def spawn(self, argv: list[str], env: dict[str, str], cwd: str | None, log: str) -> tuple[int, int]:
        """Fork an instance running ``python -m knflow_runtime *argv``.

        Args:
            argv: the runtime's arguments.
            env: variables added to the zygote's environment.
            cwd: the child's working directory.
            log: the file its stdout and stderr append to.

        Returns:
            The child's pid and a pidfd for it, which the caller owns.

        Raises:
            ForkServerError: the zygote is not running or failed to fork.
        """
        request = json.dumps({"argv": argv, "env": env, "cwd": cwd, "log": log}).encode()
        async with self._lock:  # one request in flight: replies are matched by order
            sock = self._sock
            if sock is None or not self.alive:
                raise ForkServerError("the fork server is not running")
            try:
                await asyncio.get_running_loop().sock_sendall(sock, request)
                async with asyncio.timeout(_SPAWN_TIMEOUT_S):
                    reply, fds = await _receive(sock)
            except BaseException as exc:
                # A request may have been read and a child forked that we will never know of: stop
                # the zygote, which takes such a child down with it (PDEATHSIG).
                await self._stop()
                if isinstance(exc, OSError | ForkServerError):  # TimeoutError is an OSError
                    raise ForkServerError(f"the fork server did not answer: {exc!r}") from exc
                raise
        answer = json.loads(reply)
        if "pid" not in answer or len(fds) != 1:
            _close_all(fds)
            raise ForkServerError(f"the fork server could not fork: {answer.get('error', answer)}")
        return int(answer["pid"]), fds[0]

    async def close(self) -> None:
        """Stop the zygote; any instance it forked and still runs dies with it (PDEATHSIG)."""
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(BaseException):
                await self._starting
        await self._stop()

    async def _stop(self) -> None:
        sock, proc, self._sock, self._proc = self._sock, self._proc, None, None
        if sock is not None:
            sock.close()
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            await asyncio.to_thread(proc.wait)


async def _receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    loop = asyncio.get_running_loop()
    fd = sock.fileno()
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(sock, MAX_MESSAGE, 1)
        except BlockingIOError:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _wake, ready)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
            continue
        if not message:
            raise ForkServerError("the fork server exited")
        return message, fds


def _popen_zygote(python: str, log_path: Path, fd: int, env: dict[str, str] | None) -> subprocess.Popen[bytes]:
    # Called on the event loop's thread, on purpose: PDEATHSIG fires when the *thread* that forked
    # the child exits, and a worker thread of an executor may exit at any time.
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [python, "-P", forkserver_zygote.__file__, str(fd)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            pass_fds=(fd,),
            preexec_fn=_child_of(os.getpid()),  # noqa: PLW1509 - it only calls prctl, which is fork-safe
        )


def _child_of(parent_pid: int) -> Callable[[], None]:
    return lambda: die_with_parent(parent_pid)


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
