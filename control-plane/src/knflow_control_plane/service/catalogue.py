"""The catalogue of one project as the API reads and edits it: workflows, their versions and deployments,
actions, the HTTP routes at a path, and the trigger events that started no run.

Registering and deploying live in :mod:`.workflows`; this module holds the reads and the deletes, with
their rules: a deployed workflow is not deleted, a missing one is named in the error.
"""

from __future__ import annotations

import copy
from typing import Protocol

from ..domain.catalogue import ActionVersion, Deployment, VersionEntry, WorkflowEntry
from ..domain.rejections import RejectedEvent
from ..errors import Conflict, NotFound
from ..ports import CatalogueStore, RejectedEvents


class CatalogueReads(CatalogueStore, RejectedEvents, Protocol):
    """What the API's catalogue reads: actions, workflows, deployments, routes, and rejected events."""


class Catalogue:
    """Reads and deletes in the catalogue of ``project``.

    Args:
        store: where the catalogue lives.
        project: the project whose catalogue this is.
    """

    def __init__(self, store: CatalogueReads, project: str):
        self.store, self.project = store, project

    def of(self, project: str) -> Catalogue:
        """The same, for ``project``."""
        if project == self.project:
            return self
        found = copy.copy(self)
        found.project = project
        return found

    async def workflows(self) -> list[WorkflowEntry]:
        """Every workflow with its latest version and deployment."""
        return await self.store.list_workflows(self.project)

    async def deployment(self, workflow: str) -> Deployment | None:
        """The workflow's deployment, or None when it has never been deployed."""
        return await self.store.get_deployment(self.project, workflow)

    async def deployed_version(self, workflow: str) -> str | None:
        """The version of the workflow deployed and ready now, or None."""
        found = await self.deployment(workflow)
        return found.version if found is not None and found.status == "ready" else None

    async def require_deployment(self, workflow: str) -> Deployment:
        """The workflow's deployment.

        Raises:
            NotFound: the workflow has never been deployed.
        """
        found = await self.deployment(workflow)
        if found is None:
            raise NotFound(f"workflow {workflow!r} has never been deployed", field="workflow")
        return found

    async def versions(self, workflow: str) -> list[VersionEntry]:
        """Every version of the workflow, newest first.

        Raises:
            NotFound: no such workflow.
        """
        history = await self.store.workflow_history(self.project, workflow)
        if not history:
            raise NotFound(f"workflow {workflow!r} does not exist", field="workflow")
        return history

    async def delete_workflow(self, workflow: str) -> None:
        """Delete the workflow's definition (its runs stay).

        Raises:
            Conflict: it is deployed (undeploy it first).
            NotFound: no such workflow.
        """
        if await self.deployed_version(workflow) is not None:
            raise Conflict(f"workflow {workflow!r} is deployed: undeploy it first", field="workflow")
        if not await self.store.delete_workflow(self.project, workflow):
            raise NotFound(f"workflow {workflow!r} does not exist", field="workflow")

    async def actions(self) -> list[ActionVersion]:
        """Every action version, newest first per action."""
        return await self.store.list_actions(self.project)

    async def action(self, name: str, version: str | None) -> ActionVersion:
        """An action version (the newest when ``version`` is None), with its build logs.

        Raises:
            NotFound: no such action.
        """
        record = await self.store.get_action_version(self.project, name, version)
        if record is None:
            raise NotFound(f"action {name!r} does not exist", field="action")
        return record

    async def delete_action(self, name: str) -> None:
        """Delete every version of the action.

        Raises:
            NotFound: no such action.
        """
        if not await self.store.delete_action(self.project, name):
            raise NotFound(f"action {name!r} does not exist", field="action")

    async def methods_at(self, path: str, *, anywhere: bool = False) -> list[str]:
        """The HTTP methods some deployed trigger of this project (of any project: ``anywhere``) serves at
        ``path``."""
        return await self.store.routes_for_path(None if anywhere else self.project, path)

    async def rejected(self, workflow: str | None, limit: int, before: int | None) -> list[RejectedEvent]:
        """Up to ``limit`` rejected trigger events, newest first, older than the id ``before``."""
        return await self.store.list_rejected(self.project, workflow=workflow, limit=limit, before=before)
