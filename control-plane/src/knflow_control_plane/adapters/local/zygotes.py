"""The fork servers of a local backend: one zygote per interpreter, a few at most.

Actions without requirements run on the control plane's interpreter; each requirement set has a venv
with its own interpreter and site-packages, shared by every action with those requirements. A zygote
forks instances on the interpreter it runs, so there is one per interpreter in use, started in the
background when a function on it is deployed, and reused by every cold start on it after that.

Limits: at most ``limit`` zygotes (each holds ~25 MB of its own memory, see ``docs/local-backend.md``).
A new one replaces the least recently used zygote that has no instance running (stopping a zygote
takes its children down); when every zygote has instances, cold starts on a new interpreter are
spawned until one is free. A zygote that dies is started again in the background by the next cold
start on its interpreter, which is spawned meanwhile; one that fails to start is retried 30 s later.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import sys
from pathlib import Path

from .forkserver import ForkServer, ForkServerError

log = logging.getLogger(__name__)


class Zygotes:
    """One :class:`ForkServer` per interpreter, at most ``limit`` running, least recently used stopped first.

    Args:
        log_dir: where each zygote's output goes (``forkserver.log`` for the control plane's interpreter,
            ``forkserver-{hash of the interpreter path}.log`` for a venv's).
        env: the zygotes' environment, which their children inherit.
        limit: how many zygotes may run at once.
        start_timeout: seconds a zygote may take to import everything.
    """

    def __init__(self, log_dir: Path, *, env: dict[str, str], limit: int = 4, start_timeout: float = 60.0):
        self.limit = limit
        self._log_dir = log_dir
        self._env = env
        self._start_timeout = start_timeout
        #: least recently used first
        self._servers: collections.OrderedDict[str, ForkServer] = collections.OrderedDict()
        #: instances each zygote forked that have not exited yet, by interpreter
        self._children: collections.Counter[str] = collections.Counter()
        self._stopping: set[asyncio.Task[None]] = set()
        self._closed = False

    def warm(self, python: str) -> None:
        """Start the zygote of ``python`` in the background, unless it runs, is starting, or cannot."""
        server = self._get(python)
        if server is None or server.alive or server.starting:
            return
        with contextlib.suppress(ForkServerError):  # failed recently: instances are spawned until the retry
            server.begin().add_done_callback(lambda task: self._started(python, task))

    async def acquire(self, python: str) -> ForkServer | None:
        """The zygote to fork an instance on ``python`` from, once it is ready; None to spawn instead.

        A zygote that is starting is waited for (it is further along than a spawn would be); one that
        is not running is started in the background, and this instance is spawned. The zygote returned
        is held (never stopped as least recently used) until :meth:`release`: call it once the instance
        it forks has exited, or at once if the fork failed.
        """
        server = self._get(python)
        if server is None:
            return None
        if not server.alive and not server.starting:
            self.warm(python)
            return None
        try:
            await server.start()
        except ForkServerError:
            return None
        if self._servers.get(python) is not server:  # stopped by close() meanwhile
            return None
        self._children[python] += 1
        return server

    def release(self, python: str) -> None:
        """Release a zygote that :meth:`acquire` returned."""
        self._children[python] -= 1
        if self._children[python] <= 0:
            del self._children[python]

    def pids(self) -> dict[str, int]:
        """The running zygotes' process ids, by interpreter."""
        return {python: s.pid for python, s in self._servers.items() if s.alive and s.pid is not None}

    async def close(self) -> None:
        """Stop every zygote; instances they forked that still run die with them."""
        self._closed = True
        servers, self._servers = list(self._servers.values()), collections.OrderedDict()
        await asyncio.gather(*(s.close() for s in servers), *self._stopping)

    def _get(self, python: str) -> ForkServer | None:
        if self._closed:
            return None
        server = self._servers.get(python)
        if server is not None:
            self._servers.move_to_end(python)
            return server
        if len(self._servers) >= self.limit and not self._evict():
            return None
        name = "forkserver.log" if python == sys.executable else f"forkserver-{_short_hash(python)}.log"
        server = ForkServer(python, self._log_dir / name, env=self._env, start_timeout=self._start_timeout)
        self._servers[python] = server
        return server

    def _evict(self) -> bool:
        for python, server in self._servers.items():
            # A starting zygote may have cold starts waiting for it: it is not stopped under them.
            if not self._children[python] and not server.starting:
                del self._servers[python]
                log.info("stopping the fork server of %s (least recently used)", python)
                # Its stop (a SIGKILL and a wait) ends with close() at the latest: kept referenced.
                task = asyncio.get_running_loop().create_task(server.close())
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)
                return True
        return False

    def _started(self, python: str, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("no fork server for %s, its instances will be spawned: %s", python, task.exception())


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
