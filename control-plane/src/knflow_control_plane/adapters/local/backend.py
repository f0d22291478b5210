"""The ``local`` function backend: each deployed action version is a pool of runtime processes.

An instance (see :mod:`.instances`) is a ``knflow_runtime`` process on a loopback port. A pool
starts one on the first invocation (a cold start), starts more while every instance is at its
concurrency limit and ``max_instances`` allows, queues invocations in FIFO order when it does not,
and stops an instance once it has been idle for ``idle_timeout`` seconds (scale to zero).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import statistics
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from knflow.spec import ActionSpec
from knflow_control_plane.domain.environment import inherited
from knflow_control_plane.errors import ControlPlaneError, DeployFailed, FunctionUnavailable
from knflow_control_plane.ports import Artifact, FunctionStatus, HttpReply, HttpRequest, SecretValues

from .http import encode_headers
from .instances import Instance, Launcher, check_artifact
from .zygotes import Zygotes

log = logging.getLogger(__name__)


class _Stats:
    """Counters for metrics, shared by every pool of a backend."""

    def __init__(self) -> None:
        self.cold_starts = 0
        self.forked = 0
        self.start_failures = 0
        self.lost = 0
        self.unavailable = 0
        self.durations: collections.deque[float] = collections.deque(maxlen=1000)


class _Pool:
    """The instances of one deployed action version, and the invocations waiting for a slot."""

    def __init__(
        self, action: ActionSpec, artifact: Artifact, launcher: Launcher, stats: _Stats, backend: LocalBackend
    ):
        self.action = action
        self.artifact = artifact
        self.instances: list[Instance] = []
        self.starting = 0
        self.concurrency = int(action.options.get("concurrency") or 1)
        self.max_instances = int(action.options.get("max_instances") or 1)
        self.waiters: collections.deque[asyncio.Future[Instance]] = collections.deque()
        self._launcher = launcher
        self._stats = stats
        self._backend = backend
        self._loop = asyncio.get_running_loop()
        self._closed = False

    async def invoke(self, headers: bytes, body: bytes) -> HttpReply:
        instance = self._take() or await self._wait()
        try:
            return await instance.post(headers, body)
        except OSError as exc:  # refused, reset, or dropped before the reply
            self._stats.unavailable += 1
            # A healthy runtime answers every request, even a bad one (400) or while draining (503):
            # a dropped connection means the process is dying, though its pidfd may not say so yet.
            self._discard(instance)
            raise FunctionUnavailable(
                f"{self.action.name}/{self.action.version} unreachable: {exc}", action=self.action.name
            ) from exc
        finally:
            self._release(instance)

    def _take(self) -> Instance | None:
        if self.waiters:  # FIFO: a new invocation never overtakes one that waits
            return None
        instance = self._free()
        if instance is not None:
            instance.inflight += 1
        return instance

    def _free(self) -> Instance | None:
        # The oldest instance with a free slot: packing the load lets the newer ones go idle and stop.
        for instance in self.instances:
            if instance.inflight < self.concurrency:
                return instance
        return None

    async def _wait(self) -> Instance:
        if self._closed:
            raise FunctionUnavailable(f"{self.action.name}/{self.action.version} is not deployed")
        waiter: asyncio.Future[Instance] = self._loop.create_future()
        self.waiters.append(waiter)
        self._scale()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release(waiter.result())  # a slot was handed over just as we were cancelled
            else:
                with contextlib.suppress(ValueError):
                    self.waiters.remove(waiter)
            raise

    def _scale(self) -> None:
        # One new instance per `concurrency` queued invocations not already covered by starting ones.
        while (
            not self._closed
            and len(self.waiters) > self.starting * self.concurrency
            and len(self.instances) + self.starting < self.max_instances
        ):
            self.starting += 1
            self._backend.spawn_task(self._start())

    async def _start(self) -> None:
        try:
            instance = await self._launcher.start(self.action, self.artifact, self._exited)
        except Exception as exc:  # noqa: BLE001 - every start failure is reported to the waiters
            self.starting -= 1
            self._stats.start_failures += 1
            log.warning("cold start of %s/%s failed: %s", self.action.name, self.action.version, exc)
            if not self.instances and not self.starting:
                self._fail_waiters(exc)
            return
        except BaseException:
            self.starting -= 1
            raise
        self.starting -= 1
        self._stats.cold_starts += 1
        self._stats.forked += instance.forked
        self._stats.durations.append(instance.start_seconds)
        log.info(
            "cold start of %s/%s in %.1f ms (%s)",
            self.action.name,
            self.action.version,
            instance.start_seconds * 1000,
            "forked" if instance.forked else "spawned",
        )
        if self._closed or not instance.alive:
            await instance.stop(self._backend.stop_grace)
            self._scale()
            return
        self.instances.append(instance)
        instance.idle_since = self._loop.time()
        self._dispatch()
        self._arm_idle(instance)

    def _dispatch(self) -> None:
        while self.waiters:
            instance = self._free()
            if instance is None:
                return
            waiter = self.waiters.popleft()
            if not waiter.done():  # a cancelled waiter gives its turn to the next one
                instance.inflight += 1
                waiter.set_result(instance)

    def _release(self, instance: Instance) -> None:
        instance.inflight -= 1
        if not instance.alive:
            return
        if self.waiters:
            self._dispatch()
        if instance.inflight == 0:
            instance.idle_since = self._loop.time()
            self._arm_idle(instance)

    def _arm_idle(self, instance: Instance) -> None:
        if instance.idle_timer is None and instance.inflight == 0:
            instance.idle_timer = self._loop.call_later(self._backend.idle_timeout, self._idle_check, instance)

    def _idle_check(self, instance: Instance) -> None:
        instance.idle_timer = None
        if not instance.alive or instance.inflight:
            return  # a busy instance re-arms its timer when it next goes idle
        remaining = instance.idle_since + self._backend.idle_timeout - self._loop.time()
        if remaining > 0.001:
            instance.idle_timer = self._loop.call_later(remaining, self._idle_check, instance)
            return
        log.info("stopping idle instance of %s/%s (pid %d)", self.action.name, self.action.version, instance.child.pid)
        self._remove(instance)
        self._backend.spawn_task(instance.stop(self._backend.stop_grace))

    def _exited(self, instance: Instance) -> None:
        self._lost(instance, f"exited with code {instance.returncode}")
        self._scale()  # waiters queued behind it need an instance

    def _discard(self, instance: Instance) -> None:
        self._lost(instance, "dropped a call")
        instance.signal(signal.SIGKILL)

    def _lost(self, instance: Instance, why: str) -> None:
        # Instances stopped on purpose are out of the list already: only a loss is counted and logged.
        if instance in self.instances:
            self._stats.lost += 1
            name = f"{self.action.name}/{self.action.version}"
            log.warning("instance of %s (pid %d) %s", name, instance.child.pid, why)
            self._remove(instance)

    def _remove(self, instance: Instance) -> None:
        with contextlib.suppress(ValueError):
            self.instances.remove(instance)

    def _fail_waiters(self, reason: str | Exception) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(_failure(reason, self.action.name))

    async def close(self) -> None:
        self._closed = True
        self._fail_waiters(f"{self.action.name}/{self.action.version} was undeployed")
        instances, self.instances = self.instances, []
        await asyncio.gather(*(i.stop(self._backend.stop_grace) for i in instances))

    def status(self) -> FunctionStatus:
        running = len(self.instances)
        message = f"{running} running, {self.starting} starting" if running or self.starting else "scaled to zero"
        return FunctionStatus(
            action=self.action.name,
            version=self.action.version,
            ready=True,
            instances=running,
            url=self.instances[0].url if self.instances else None,
            message=message,
            details={
                "starting": str(self.starting),
                "inflight": str(sum(i.inflight for i in self.instances)),
                "waiting": str(len(self.waiters)),
                "concurrency": str(self.concurrency),
                "max_instances": str(self.max_instances),
                "pids": ",".join(str(i.child.pid) for i in self.instances),
                "log": str(self._launcher.log_path(self.action)),
            },
        )


def _failure(reason: str | Exception, action: str) -> ControlPlaneError:
    """What a waiter of a failed start gets: the start's own error when it is final (an import error, a
    missing interpreter), a new one each (an exception object is not shared between tasks), else a
    ``FunctionUnavailable`` that the orchestrator retries."""
    if isinstance(reason, DeployFailed):
        return type(reason)(str(reason), **reason.fields)
    return FunctionUnavailable(str(reason), action=action)


class LocalBackend:
    """Runs functions as local ``knflow_runtime`` processes (implements the ``FunctionBackend`` port).

    Args:
        root: folder of the instances' log files (``root/logs``).
        idle_timeout: seconds an instance stays up with nothing to do (then it stops: scale to zero).
        start_timeout: seconds a cold start may take before the invocation fails.
        stop_grace: seconds between SIGTERM and SIGKILL when an instance stops.
        fork_server: fork instances from pre-imported zygotes, one per interpreter (the control
            plane's, and each requirement set's venv), started when a function on it is deployed.
        fork_servers: how many zygotes may run at once (the least recently used idle one is stopped
            for a new one; see :mod:`.zygotes`).
        host: the loopback address instances listen on.
    """

    def __init__(
        self,
        root: Path,
        *,
        idle_timeout: float = 60.0,
        start_timeout: float = 60.0,
        stop_grace: float = 5.0,
        fork_server: bool = True,
        fork_servers: int = 4,
        host: str = "127.0.0.1",
    ):
        logs = Path(root) / "logs"
        self.idle_timeout = idle_timeout
        self.stop_grace = stop_grace
        #: the zygotes (None without a fork server)
        self.zygotes = Zygotes(logs, env=inherited(os.environ), limit=fork_servers) if fork_server else None
        self._launcher = Launcher(logs, host=host, start_timeout=start_timeout, zygotes=self.zygotes)
        self._pools: dict[tuple[str, str], _Pool] = {}
        self._stats = _Stats()
        self._tasks: set[asyncio.Task[Any]] = set()

    def use_secrets(self, values: SecretValues) -> None:
        """Give each function the values of the secrets its action names, as environment variables."""
        self._launcher.secret_values = values

    async def deploy(self, action: ActionSpec, artifact: Artifact) -> FunctionStatus:
        """Register ``action`` (scaled to zero until invoked); redeploying a new artifact replaces it.

        Raises:
            DeployFailed: the artifact is not a local venv build, or its files are missing.
        """
        check_artifact(action, artifact)
        if self.zygotes is not None:
            # In the background, also when the function is only ensured: its next cold start forks.
            self.zygotes.warm(artifact.location)
        key = (action.name, action.version)
        old = self._pools.get(key)
        if old is not None and (old.artifact, old.action) == (artifact, action):
            return old.status()
        self._pools[key] = pool = _Pool(action, artifact, self._launcher, self._stats, self)
        if old is not None:
            self.spawn_task(old.close())
        return pool.status()

    async def check_load(self, action: ActionSpec, artifact: Artifact) -> dict[str, Any]:
        """Import the action where it will run (its interpreter, its code) and return its signature.

        A short process of its own (forked by the artifact's zygote when one runs), not an instance:
        the function stays scaled to zero.

        Raises:
            ActionLoadFailed: it cannot be imported (the user's exception and traceback in its fields).
            DeployFailed: the artifact is not usable, or the check ended without a report.
        """
        check_artifact(action, artifact)
        return await self._launcher.check(action, artifact)

    async def undeploy(self, action: str, version: str) -> None:
        """Stop the function's instances and forget it; a no-op when it is not deployed."""
        pool = self._pools.pop((action, version), None)
        if pool is not None:
            await pool.close()

    async def invoke(self, action: str, version: str, request: HttpRequest, timeout: float) -> HttpReply:
        """POST ``request`` to an instance of the function, cold-starting one if needed.

        Args:
            action: the action's name.
            version: its version.
            request: headers and body (a binary-mode CloudEvent), forwarded as they are.
            timeout: seconds for the whole call: waiting for a slot, a cold start and the reply.

        Raises:
            FunctionUnavailable: not deployed, the instance could not start, died, or dropped the call.
            TimeoutError: no reply within ``timeout``.
            InvalidRequest: a header cannot be sent (not Latin-1, or a line break in it).
        """
        pool = self._pools.get((action, version))
        if pool is None:
            raise FunctionUnavailable(f"{action}/{version} is not deployed", action=action)
        headers = encode_headers(request.headers)
        async with asyncio.timeout(timeout):
            return await pool.invoke(headers, request.body)

    async def status(self, action: str, version: str) -> FunctionStatus:
        """The function's instances and queue (``ready`` is False when it is not deployed)."""
        pool = self._pools.get((action, version))
        if pool is None:
            return FunctionStatus(action=action, version=version, ready=False, message="not deployed")
        return pool.status()

    def stats(self) -> dict[str, float]:
        """Counters for metrics: cold starts (count, forked, p50/max/last ms), instances, failures."""
        durations = list(self._stats.durations)
        ms = [d * 1000 for d in durations]
        return {
            "cold_starts": self._stats.cold_starts,
            "cold_starts_forked": self._stats.forked,
            "cold_start_failures": self._stats.start_failures,
            "cold_start_p50_ms": statistics.median(ms) if ms else 0.0,
            "cold_start_max_ms": max(ms, default=0.0),
            "cold_start_last_ms": ms[-1] if ms else 0.0,
            "cold_start_seconds_total": sum(durations),
            "instances": sum(len(p.instances) for p in self._pools.values()),
            "instances_lost": self._stats.lost,
            "unavailable": self._stats.unavailable,
            "fork_servers": len(self.zygotes.pids()) if self.zygotes is not None else 0,
        }

    async def close(self) -> None:
        """Stop every instance (SIGTERM, SIGKILL after ``stop_grace``) and every zygote."""
        pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(p.close() for p in pools))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._launcher.close()  # instances that a cancelled start or stop left behind
        if self.zygotes is not None:
            await self.zygotes.close()

    def spawn_task(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background, kept referenced until done and cancelled by ``close()``."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
