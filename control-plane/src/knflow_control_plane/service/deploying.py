"""Deploying and undeploying a workflow: build and admit its functions, then enable its triggers and
HTTP routes (or leave the deployment ``failed`` with the reason), and tell the deploy listeners.

``Workflows`` takes these use cases from ``Deploying``; they read the stored spec and the caches it holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from knflow.spec import EventTrigger, HttpTrigger, ScheduleTrigger, SourceTrigger

from ..domain.catalogue import Deployment, Route
from ..domain.flows import refuse_not_run_yet
from ..errors import Conflict, ControlPlaneError, InvalidRequest, NotFound
from ..ports import WorkflowStore
from .functions import Functions
from .garbage import FunctionGarbage
from .ttl_cache import TtlCache

if TYPE_CHECKING:
    from knflow.spec import WorkflowSpec


class Deploying:
    """The deploy and undeploy use cases of ``Workflows`` (one project's)."""

    # Set by ``Workflows.__init__``.
    store: WorkflowStore
    functions: Functions
    project: str
    custom_triggers: bool
    garbage: FunctionGarbage | None
    _deployments: TtlCache[str, Deployment | None]
    _routes: TtlCache[tuple[str, str], Route | None]
    _deploy_listeners: list[Callable[[dict[str, Any]], None]]

    if TYPE_CHECKING:

        async def spec(self, name: str, version: str | None = None) -> WorkflowSpec: ...

    def on_deploy(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener`` with the outcome of every deploy here (``workflow``, ``version``, ``status``,
        ``error``), failed ones included (``knflow dev`` prints a line for each)."""
        self._deploy_listeners.append(listener)

    def _changed(self) -> None:
        self._deployments.clear()
        self._routes.clear()

    async def deploy(
        self, name: str, version: str | None = None, *, source: str | None = None, replace: bool = False
    ) -> dict[str, Any]:
        """Build and deploy every action of the workflow, then enable its triggers (see :meth:`_deploy`).

        ``source`` (the file it is deployed from, as the deployer names it) is kept with the deployment;
        ``replace`` deploys even over a deployment from another source.

        Raises:
            Conflict: the workflow is deployed from another file and ``replace`` is not set.
        """
        await self.check_source(name, source, replace)
        try:
            outcome = await self._deploy(name, version, source)  # kept with the deployment
        except ControlPlaneError as exc:
            self._deployed({"workflow": name, "version": version, "status": "failed", "error": str(exc)})
            raise
        finally:
            self._changed()
        self._deployed(outcome)
        return outcome

    def _deployed(self, outcome: dict[str, Any]) -> None:
        for listener in self._deploy_listeners:
            listener(outcome)

    async def check_source(self, name: str, source: str | None, replace: bool) -> None:
        """Refuse to deploy ``name`` from ``source`` over a deployment from another file, unless ``replace``.

        Raises:
            Conflict: naming both files.
        """
        current = await self.store.get_deployment(self.project, name)
        if source is None or replace or current is None or current.status == "undeployed":
            return
        if current.source not in (None, source):
            raise Conflict(
                f"workflow {name!r} is deployed from {current.source}; deploying it from {source} would "
                'replace it: deploy again with --replace (API: "replace": true)',
                field="source",
            )

    async def _deploy(self, name: str, version: str | None = None, origin: str | None = None) -> dict[str, Any]:
        """Build and deploy every action of the workflow, then enable its HTTP triggers.

        A failed build or deploy leaves the deployment ``failed`` with the reason, and no routes.
        """
        spec = await self.spec(name, version)
        refuse_not_run_yet(spec)  # a version stored by a control plane that ran more than this one
        now = time.time()
        await self.store.set_deployment(self.project, name, spec.version, "deploying", None, now, origin)
        try:
            # Every function admitted first: a value the platform refuses fails the deploy before any build.
            for action in spec.actions.values():
                await self.functions.preflight(self.project, action.name, action.version)
            for action in spec.actions.values():
                await self.functions.ensure(self.project, action.name, action.version, check=True)
            for source in spec.triggers:
                if isinstance(source, SourceTrigger):
                    if not self.custom_triggers:
                        raise InvalidRequest(
                            f"custom trigger {source.name}: this backend cannot run custom triggers", field="triggers"
                        )
                    await self.functions.artifact(
                        self.project, source.name, source.version
                    )  # built now, run by Sources
        except ControlPlaneError as exc:
            await self.store.delete_routes(self.project, name)
            await self.store.delete_triggers(self.project, name)
            await self.store.set_deployment(self.project, name, spec.version, "failed", str(exc), time.time())
            return {"workflow": name, "version": spec.version, "status": "failed", "error": str(exc)}
        http = [t.model_dump(mode="json") for t in spec.triggers if isinstance(t, HttpTrigger)]
        events = [t.model_dump(mode="json") for t in spec.triggers if isinstance(t, EventTrigger | SourceTrigger)]
        crons = [t.model_dump(mode="json") for t in spec.triggers if isinstance(t, ScheduleTrigger)]
        await self.store.replace_triggers(self.project, name, spec.version, events, crons, time.time())
        clashes = await self.store.replace_routes(self.project, name, spec.version, http)
        if clashes:
            error = "HTTP trigger paths already taken: " + ", ".join(clashes)
            await self.store.set_deployment(self.project, name, spec.version, "failed", error, time.time())
            raise Conflict(error, field="triggers")
        await self.store.set_deployment(self.project, name, spec.version, "ready", None, time.time())
        return {"workflow": name, "version": spec.version, "status": "ready", "error": None}

    async def undeploy(self, name: str) -> dict[str, Any]:
        """Disable the workflow's triggers (see :meth:`_undeploy`)."""
        try:
            return await self._undeploy(name)
        finally:
            self._changed()

    async def _undeploy(self, name: str) -> dict[str, Any]:
        """Disable the workflow's triggers and mark it undeployed (functions scale to zero on their own).

        Raises:
            NotFound: when the workflow was never deployed.
        """
        deployment = await self.store.get_deployment(self.project, name)
        if deployment is None:
            raise NotFound(f"workflow {name!r} is not deployed", field="workflow")
        await self.store.delete_routes(self.project, name)
        await self.store.delete_triggers(self.project, name)
        await self.store.set_deployment(self.project, name, deployment.version, "undeployed", None, time.time())
        if self.garbage is not None:
            self.garbage.collect_soon()
        return {"workflow": name, "version": deployment.version, "status": "undeployed", "error": None}
