"""Every in-memory twin in one object: the whole run store, for unit tests."""

from __future__ import annotations

import random
from typing import Any

from .catalogue import MemoryCatalogue
from .children import MemoryChildren
from .files import MemoryFileRecords
from .leases import MemoryLeases
from .projects import MemoryProjects
from .rejections import MemoryRejectedEvents
from .runs import MemoryRuns
from .triggers import MemoryTriggers


class MemoryStore(
    MemoryChildren,
    MemoryCatalogue,
    MemoryTriggers,
    MemoryRejectedEvents,
    MemoryFileRecords,
    MemoryLeases,
    MemoryProjects,
):
    """The whole run store in memory (every port of :class:`~knflow_control_plane.ports.RunStore`): runs
    and their transitions, the catalogue, triggers, rejected events, file records, leases and projects of
    every project (and the operator's calls on projects: :class:`~knflow_control_plane.ports.ProjectAdmin`).

    Args:
        outbox: keep lifecycle events in the outbox (as ``SqlAlchemyStore(outbox=True)``).
        rng: randomness for retry jitter (seed it in tests).
    """

    def __init__(self, *, outbox: bool = False, rng: random.Random | None = None) -> None:
        MemoryRuns.__init__(self, outbox=outbox, rng=rng)
        MemoryCatalogue.__init__(self)
        MemoryTriggers.__init__(self)
        MemoryRejectedEvents.__init__(self)
        MemoryFileRecords.__init__(self)
        MemoryLeases.__init__(self)
        MemoryProjects.__init__(self)

    async def create_project(self, project: str, now: float) -> bool:
        """Create a project; False when it exists."""
        if project in self.created:
            return False
        self.created[project] = now
        return True

    async def list_projects(self, only: str | None = None) -> list[dict[str, Any]]:
        """Every project (or only ``only``), with its count of workflows and its deployed ones."""
        return [
            {
                "name": name,
                "created_at": at,
                "workflows": sum(1 for owner, _ in self._workflows if owner == name),
                "deployed": sorted(
                    w for (owner, w), d in self._deployments.items() if owner == name and d["status"] in _DEPLOYED
                ),
            }
            for name, at in sorted(self.created.items())
            if only in (None, name)
        ]

    async def delete_project(self, project: str) -> bool:
        """Delete a project and everything of it held here; False when there was none."""
        if self.created.pop(project, None) is None:
            return False
        tables: list[dict[Any, Any]] = [self._actions, self._workflows, self._versions, self._deployments]
        self._generation += 1  # its event triggers go with it
        for table in [*tables, self._routes, self._events, self._schedules]:
            for key in [k for k in table if k[0] == project]:
                del table[key]
        for name in [k for k, r in self._records.items() if r.project == project]:
            del self._records[name]
        self._rows = [r for r in self._rows if r.project != project]
        self._forget_runs_of(project)
        return True

    async def close(self) -> None:
        """Nothing to release."""


#: Deployments that still serve (as ``adapters/sqlalchemy/projects.py`` counts them).
_DEPLOYED = ("ready", "deploying")
