"""Projects: created, listed and deleted by an operator; each holds its own keys, secrets, workflows, runs
and files, and one control plane serves them all."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..domain.access import Role
from ..domain.projects import invalid_name
from ..errors import Conflict, InvalidRequest, NotFound
from ..ports import RunStore
from .api_keys import ApiKeys
from .ttl_cache import TtlCache
from .workflows import Workflows

#: How long a replica trusts that a project exists (a deletion elsewhere shows within it).
EXISTS_TTL_S = 1.0


class ProjectExists(Conflict):
    """A project of that name exists already."""


class DefaultProject(Conflict):
    """The control plane's default project (``KNFLOW_PROJECT``) is not deleted."""


class ProjectInUse(Conflict):
    """The project still has deployed workflows: undeploy them, or delete with ``force``.

    Fields: ``deployed``, the names of its deployed workflows.
    """


class Projects:
    """The projects of a control plane.

    Args:
        store: where projects and everything of theirs are.
        keys: makes a new project's first ``admin`` key.
        workflows: undeploys a project's workflows (a forced delete).
        default: the plane's default project (``KNFLOW_PROJECT``), which cannot be deleted.
        clock: epoch seconds.
    """

    def __init__(
        self,
        store: RunStore,
        keys: ApiKeys,
        workflows: Workflows,
        default: str,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.keys = keys
        self.workflows = workflows
        self.default = default
        self._clock = clock
        self._exists: TtlCache[str, bool] = TtlCache(EXISTS_TTL_S)
        #: called with a deleted project's name once its workflows are undeployed (custom triggers stop)
        self.on_undeploy: Callable[[], None] | None = None

    async def exists(self, name: str) -> bool:
        """Whether ``name`` is a project (known for up to :data:`EXISTS_TTL_S`)."""
        return name == self.default or await self._exists.get(name, lambda: self._lookup(name))

    async def _lookup(self, name: str) -> bool:
        return bool(await self.store.list_projects(only=name))

    async def create(self, name: str) -> dict[str, Any]:
        """A new project and its first ``admin`` key (the key's secret is in this result only).

        Raises:
            InvalidRequest: the name is not a project name.
            ProjectExists: a project of that name exists.
        """
        reason = invalid_name(name)
        if reason is not None:
            raise InvalidRequest(reason, field="name")
        if not await self.store.create_project(name, self._clock()):
            raise ProjectExists(f"project {name!r} exists", field="name")
        self._exists.clear()
        key = await self.keys.create(name, f"{name}-admin", Role.admin)
        return {**await self.get(name), "admin_key": key}

    async def list(self, only: str | None = None) -> list[dict[str, Any]]:
        """Every project (or only ``only``), with its count of workflows and its deployed ones."""
        return await self.store.list_projects(only=only)

    async def get(self, name: str) -> dict[str, Any]:
        """One project.

        Raises:
            NotFound: there is none of that name.
        """
        found = await self.store.list_projects(only=name)
        if not found:
            raise NotFound(f"no project {name!r}", field="name")
        return found[0]

    async def delete(self, name: str, *, force: bool = False) -> dict[str, Any]:
        """Delete a project with everything of its: workflows, runs, files' records, keys, secrets.

        Raises:
            NotFound: there is none of that name.
            DefaultProject: it is the plane's default project.
            ProjectInUse: it has deployed workflows and ``force`` is not set.
        """
        project = await self.get(name)
        if name == self.default:
            raise DefaultProject(f"project {name!r} is this control plane's default (KNFLOW_PROJECT)", field="name")
        deployed = list(project["deployed"])
        if deployed and not force:
            raise ProjectInUse(
                f"project {name!r} has deployed workflows: {', '.join(deployed)} (undeploy them, or delete with force)",
                field="name",
                deployed=deployed,
            )
        workflows = self.workflows.of(name)
        for workflow in deployed:
            await workflows.undeploy(workflow)
        if deployed and self.on_undeploy is not None:
            self.on_undeploy()
        await self.store.delete_project(name)
        self.keys.forget()  # its keys stop at once here, within CACHE_SECONDS on other replicas
        self.workflows.forget(name)
        self._exists.clear()
        return {"name": name, "undeployed": deployed}
