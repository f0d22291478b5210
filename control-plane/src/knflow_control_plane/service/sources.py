"""Custom triggers (``@trigger``): each deployed one runs on exactly one replica and posts to ``/v1/events``.

Which replica runs a trigger is a lease in the store (``trigger/{workflow}/{name}``), renewed on every
look: when its holder dies the lease expires and another replica starts the trigger. The events it posts
go through the triggers topic like any other, and their (source, id) keeps runs unique even if two
replicas briefly ran it together around a takeover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from knflow.spec import SourceTrigger

from ..errors import ControlPlaneError
from ..ports import Leases, SourceRunner, TriggerStore
from .background import Background
from .functions import Functions
from .health import Outage


class SourcesStore(TriggerStore, Leases, Protocol):
    """What runs custom triggers reads: the deployed triggers, and the lease of the replica that runs them."""


log = logging.getLogger("knflow.sources")


class Sources:
    """Starts and stops this replica's share of the deployed custom triggers.

    Args:
        store: deployed triggers and the leases.
        functions: builds a trigger's function.
        runner: runs it (local processes, ...).
        sink: the URL events are posted to (``K_SINK``): this control plane's ``/v1/events``.
        holder: this replica's name on the leases.
        project: the plane's default project (the triggers of every project run).
        key_for: the API key a trigger posts with, by (project, workflow, trigger name); None when the API
            needs none.
        interval: seconds between looks (and lease renewals).
        lease_ttl: seconds before a silent holder's triggers move to another replica.
    """

    def __init__(
        self,
        store: SourcesStore,
        functions: Functions,
        runner: SourceRunner,
        sink: str,
        holder: str,
        project: str = "default",
        *,
        key_for: Callable[[str, str, str], str] | None = None,
        interval: float = 2.0,
        lease_ttl: float = 10.0,
    ):
        self.store = store
        self.functions = functions
        self.runner = runner
        self.sink = sink
        self.holder = holder
        self.project = project
        self.key_for = key_for
        self.interval = interval
        self.lease_ttl = lease_ttl
        self._started: dict[str, str] = {}  # key -> version started here
        self._background = Background("knflow-sources")
        self._wake = asyncio.Event()

    async def start(self) -> None:
        """Look after the triggers in the background until :meth:`stop`."""
        self._background.start(self._loop())

    def wake(self) -> None:
        """Look now (a workflow was deployed or undeployed here)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop every trigger running here and give their leases up."""
        await self._background.stop()
        for key in list(self._started):
            if getattr(self.runner, "persistent", False):
                # Declarative triggers (ContainerSources) outlive this replica: only an undeploy stops them.
                with contextlib.suppress(ControlPlaneError):
                    await self.store.release_lease(f"trigger/{key}", self.holder)
            else:
                await self._drop(key)
        await self.runner.close()

    async def sync(self) -> None:
        """Start the deployed triggers whose lease this replica holds; stop the others.

        Raises:
            ControlPlaneError: the store failed.
        """
        wanted: dict[str, SourceTrigger] = {}
        owners: dict[str, tuple[str, str]] = {}  # key -> (project, workflow)
        for row in await self.store.list_event_triggers(None):  # of every project
            if row.trigger.get("kind") == "source":
                spec = SourceTrigger.model_validate(row.trigger)
                # the default project's keys as before projects shared a plane (leases of running triggers)
                prefix = "" if row.project == self.project else f"{row.project}/"
                wanted[f"{prefix}{row.workflow}/{spec.name}"] = spec
                owners[f"{prefix}{row.workflow}/{spec.name}"] = (row.project, row.workflow)
        for key in set(self._started) - wanted.keys():
            await self._drop(key)
        for key, spec in wanted.items():
            if not await self.store.acquire_lease(f"trigger/{key}", self.holder, time.time(), self.lease_ttl):
                if key in self._started:
                    if not getattr(self.runner, "persistent", False):
                        await self.runner.stop(key)  # another replica took it over
                    del self._started[key]
                continue
            if self._started.get(key) == spec.version:
                continue  # running, or ended on its own: it stays as it is until the next deploy
            if key in self._started:
                await self.runner.stop(key)  # a new version was deployed
            project, workflow = owners[key]
            artifact = await self.functions.artifact(project, spec.name, spec.version)
            env = {"K_SINK": self.sink, "KNFLOW_TRIGGER_NAME": spec.name}
            if self.key_for is not None:  # a key that can only post events of this trigger's source
                env["KNFLOW_API_KEY"] = self.key_for(project, workflow, spec.name)
            action = spec.as_action()  # named as its project's function: it gets that project's secrets
            await self.runner.start(
                key, action.model_copy(update={"name": self.functions.name(project, spec.name)}), artifact, env
            )
            self._started[key] = spec.version
            log.info("trigger %s (version %s) runs on %s", key, spec.version, self.holder)

    async def _drop(self, key: str) -> None:
        await self.runner.stop(key)
        self._started.pop(key, None)
        with contextlib.suppress(ControlPlaneError):
            await self.store.release_lease(f"trigger/{key}", self.holder)

    async def _loop(self) -> None:
        outage = Outage("looking after the custom triggers", log, base=self.interval)
        while True:
            try:
                await self.sync()
                outage.succeeded()
            except ControlPlaneError as exc:
                await asyncio.sleep(outage.failed(exc))  # one line when the outage starts, one when it ends
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
