"""``LocalSources``: custom triggers as local processes (``python -m knflow_runtime.source``), kept running.

A process that exits with a failure is started again after a growing pause (capped), like a crash-looping
container; one that ends cleanly (its generator finished) is left stopped until the next deploy.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
from pathlib import Path

from knflow.spec import ActionSpec

from ...domain.environment import child_environment
from ...domain.projects import action_of
from ...ports import Artifact, SecretValues
from .forkserver_zygote import die_with_parent, load_prctl

log = logging.getLogger("knflow.sources")

RESTART_FIRST_S = 0.5
RESTART_MAX_S = 30.0


class LocalSources:
    """Runs each custom trigger as a supervised child process.

    Args:
        log_dir: where each trigger's output goes (``{key}.log``, key made file-safe).
        stop_grace: seconds a trigger has to stop after SIGTERM before SIGKILL.
    """

    def __init__(self, log_dir: Path, *, stop_grace: float = 5.0):
        self.log_dir = log_dir
        self.stop_grace = stop_grace
        self._supervisors: dict[str, asyncio.Task[None]] = {}
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        #: the values of the secrets a trigger names (``secrets=[...]``); None: no secrets to give
        self.secret_values: SecretValues | None = None

    async def start(self, key: str, action: ActionSpec, artifact: Artifact, env: dict[str, str]) -> None:
        """See :meth:`SourceRunner.start`."""
        if key in self._supervisors and not self._supervisors[key].done():
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._supervisors[key] = asyncio.create_task(self._supervise(key, action, artifact, env), name=f"trigger {key}")

    async def stop(self, key: str) -> None:
        """See :meth:`SourceRunner.stop`."""
        supervisor = self._supervisors.pop(key, None)
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor

    def running(self) -> set[str]:
        """See :meth:`SourceRunner.running`."""
        return {key for key, task in self._supervisors.items() if not task.done()}

    async def close(self) -> None:
        """See :meth:`SourceRunner.close`."""
        for key in list(self._supervisors):
            await self.stop(key)

    async def _supervise(self, key: str, action: ActionSpec, artifact: Artifact, env: dict[str, str]) -> None:
        pause = RESTART_FIRST_S
        python = artifact.location if artifact.kind == "venv" else sys.executable
        # its own name (its events' source, /triggers/{name}); a project's function name only for its secrets
        name = action_of(action.name)
        command = [python, "-m", "knflow_runtime.source", "--trigger", action.entrypoint, "--name", name]
        if artifact.code_path:
            command += ["--code-path", artifact.code_path]
        named = list(action.options.get("secrets") or ())
        secrets = await self.secret_values(action.name, named) if named and self.secret_values is not None else None
        environment = child_environment(os.environ, action.options.get("env"), secrets, runtime=env)
        log_path = self.log_dir / (key.replace("/", "_") + ".log")
        load_prctl()
        while True:
            with log_path.open("ab") as output:
                # It dies with this control plane, even SIGKILLed (PDEATHSIG; spawned on the event loop's
                # thread, whose exit is what fires it): a crashed plane's trigger must not keep posting
                # beside the one its restart starts.
                process = await asyncio.create_subprocess_exec(
                    *command,
                    env=environment,
                    stdout=output,
                    stderr=asyncio.subprocess.STDOUT,
                    cwd=artifact.code_path,
                    preexec_fn=functools.partial(die_with_parent, os.getpid()),
                )
            self._processes[key] = process
            try:
                code = await process.wait()
            except asyncio.CancelledError:
                await self._terminate(process)
                raise
            finally:
                self._processes.pop(key, None)
            if code == 0:
                log.info("trigger %s ended", key)
                return
            log.warning("trigger %s exited with %s; starting it again in %.1fs (see %s)", key, code, pause, log_path)
            await asyncio.sleep(pause)
            pause = min(RESTART_MAX_S, pause * 2)

    async def _terminate(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), self.stop_grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
