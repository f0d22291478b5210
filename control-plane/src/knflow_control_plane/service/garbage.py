"""Deleting the functions of action versions nothing uses any more (backends that can: knative).

A version is in use while a deployed (or deploying) workflow calls it, or an unfinished run of any
workflow version does: its remaining steps will invoke it. Everything else may go. If a finished run
is retried later, its first invocation re-creates the function (the backend's drift repair), so a
collection is never wrong, only sometimes early.

Collections run after each undeploy (in the background: undeploy does not wait on the cluster) and
every ``interval`` seconds on one replica at a time (a named lease in the run store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from ..domain.projects import function_name
from ..domain.records import RunFilter
from ..errors import ControlPlaneError
from ..ports import CatalogueStore, GarbageCollecting, Leases, ProjectAdmin, RunReads


class GarbageStore(CatalogueStore, RunReads, Leases, ProjectAdmin, Protocol):
    """What garbage collection reads: the projects, their deployed workflows and running runs, and the
    collecting replica's lease."""


log = logging.getLogger("knflow.garbage")
LEASE = "function-gc"
_PAGE = 500


async def versions_in_use(store: GarbageStore, default: str) -> set[tuple[str, str]]:
    """The ``(function, version)`` pairs that deployed workflows and unfinished runs of every project use
    (functions by their backend name: ``domain.projects.function_name``, ``default`` the plane's project)."""
    used: set[tuple[str, str]] = set()
    for row in await store.list_projects():
        project = row["name"]
        used |= {(function_name(project, a, default), v) for a, v in await _project_versions(store, project)}
    return used


async def _project_versions(store: GarbageStore, project: str) -> set[tuple[str, str]]:
    """The ``(action, version)`` pairs that deployed workflows and unfinished runs of ``project`` use."""
    workflows: set[tuple[str, str]] = set()
    for workflow in await store.list_workflows(project):
        if workflow.deployment in ("ready", "deploying") and workflow.deployed_version:
            workflows.add((workflow.name, workflow.deployed_version))
    for status in ("running", "queued"):  # a queued run starts later: its functions stay
        cursor: str | None = None
        while True:
            page = await store.list_runs(RunFilter(project=project, status=status, cursor=cursor, limit=_PAGE))
            workflows |= {(run.workflow, run.workflow_version) for run in page.runs}
            if not page.next_cursor:
                break
            cursor = page.next_cursor
    used: set[tuple[str, str]] = set()
    for name, version in workflows:
        record = await store.get_workflow(project, name, version)
        if record is not None:
            used |= {(a["name"], a["version"]) for a in (record.spec.get("actions") or {}).values()}
    return used


class FunctionGarbage:
    """Collects unused functions of every project, on demand and periodically.

    Args:
        store: where deployments and runs are.
        backend: the backend whose functions go.
        project: the plane's default project (its functions are named without a project).
        holder: this replica's name on the sweep lease.
        interval: seconds between periodic collections; 0: only after undeploys.
        clock: the current Unix time.
    """

    def __init__(
        self,
        store: GarbageStore,
        backend: GarbageCollecting,
        project: str,
        holder: str,
        interval: float,
        clock: Callable[[], float] = time.time,
    ):
        self.store, self.backend, self.project = store, backend, project
        self.holder, self.interval, self._clock = holder, interval, clock
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[list[str]]] = set()
        #: names of the functions this replica deleted
        self.deleted: list[str] = []

    async def collect(self) -> list[str]:
        """Delete every function no deployment and no unfinished run uses now; their names.

        Raises:
            ControlPlaneError: the store or the backend failed (a later collection does it again).
        """
        deleted = await self.backend.collect_garbage(await versions_in_use(self.store, self.project))
        if deleted:
            log.info("deleted %d unused functions: %s", len(deleted), ", ".join(deleted))
            self.deleted.extend(deleted)
        return deleted

    def collect_soon(self) -> None:
        """Collect in the background (after an undeploy): failures are logged, and the next one retries."""
        task = asyncio.get_running_loop().create_task(self._safe_collect(), name="knflow-function-gc")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        """Collect every ``interval`` seconds until :meth:`stop` (nothing when the interval is 0)."""
        if self.interval > 0:
            self._loop_task = asyncio.create_task(self._loop(), name="knflow-function-gc-loop")

    async def stop(self) -> None:
        """Stop collecting; a collection under way is abandoned (deletes are idempotent)."""
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None

    async def _safe_collect(self) -> list[str]:
        try:
            return await self.collect()
        except ControlPlaneError:
            log.exception("collecting unused functions failed; the next collection tries again")
            return []

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            with contextlib.suppress(ControlPlaneError):
                if await self.store.acquire_lease(LEASE, self.holder, self._clock(), max(60.0, self.interval * 2)):
                    await self._safe_collect()
