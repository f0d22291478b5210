"""Registering, deploying and starting workflows: the use cases behind the API and the CLI."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from knflow.spec import ActionSpec, EventTrigger, HttpTrigger, ScheduleTrigger, SourceTrigger, WorkflowSpec

from ..domain.catalogue import Deployment, Route
from ..domain.children import unpinned
from ..domain.concurrency import run_concurrency
from ..domain.files import PAYLOAD_MARKER, payload_key
from ..domain.flows import refuse_not_run_yet
from ..domain.ids import new_run_id, new_trace_id
from ..domain.inputs import check_inputs, foreign_payload
from ..domain.model import PlannedStep, plan_run
from ..domain.query_inputs import query_inputs
from ..domain.records import NewRun, Transition
from ..errors import Conflict, ControlPlaneError, InvalidRequest, NotFound
from ..ports import FileRecords, FunctionBackend, RunStarter, WorkflowStore
from .child_versions import pinned_steps
from .file_scope import check_input_files
from .functions import Functions, pack
from .garbage import FunctionGarbage
from .payloads import Payloads
from .registration import actions_of, check_children, check_routes, check_same_code, checked_document
from .ttl_cache import TtlCache

_PLAN_CACHE_SIZE = 256
#: seconds a replica reuses a deployment or route it read (another replica's deploy shows within it)
_READ_TTL_S = 1.0
#: run starts in progress at once per replica; the rest wait at the door (see ``Workflows.start``)
STARTS_AT_ONCE = 64


@dataclass(frozen=True)
class _Plan:
    """What starting a run of one workflow version needs; versions are content hashes, so it never changes."""

    spec: WorkflowSpec
    steps: list[PlannedStep]
    result: dict[str, Any] | None
    #: the workflows its sub-workflow steps run at the version deployed when a run starts
    unpinned: list[str]


class Workflows:
    """The workflow use cases of one project."""

    def __init__(
        self,
        store: WorkflowStore,
        functions: Functions,
        backend: FunctionBackend,
        orchestrator: RunStarter,
        project: str = "default",
        *,
        custom_triggers: bool = True,
        payloads: Payloads | None = None,
        files: FileRecords | None = None,
        garbage: FunctionGarbage | None = None,
        starts_at_once: int = STARTS_AT_ONCE,
    ):
        self.store = store
        self.functions = functions
        self.backend = backend
        self.orchestrator = orchestrator
        self.project = project
        self.custom_triggers = custom_triggers  # whether the backend can run @trigger functions
        self.payloads = payloads  # where large workflow inputs go (None: kept inline)
        self.files = files  # the project of each file the inputs name is checked here (None: not checked)
        self.garbage = garbage  # deletes functions an undeploy left unused (backends that can)
        # (workflow, version) -> its plan: immutable, so kept without expiry; loaded once even when 10,000
        # runs of a version start at once (one store read each exhausted the Postgres pool).
        self._plans: TtlCache[tuple[str, str], _Plan] = TtlCache(math.inf, size=_PLAN_CACHE_SIZE)
        # Deployments and HTTP routes change rarely and are read on every trigger: kept for a moment
        # (cleared at once by a deploy or undeploy here; another replica's shows within the TTL).
        self._deployments: TtlCache[str, Deployment | None] = TtlCache(_READ_TTL_S)
        self._routes: TtlCache[tuple[str, str], Route | None] = TtlCache(_READ_TTL_S)
        # A burst of starts (10,000 trigger events, one ``asyncio.gather``) waits here, before anything is
        # built for it: a start that waits deeper (for the store) holds its checked inputs, its ``NewRun``
        # and six coroutine frames. The burst's peak is what the heap keeps afterwards (pymalloc frees an
        # arena only once it is empty), so parking them here keeps less (docs/performance.md).
        # The store still takes starts as fast as before: 64 fill its group commits and its pool.
        self.starts_at_once = starts_at_once
        self._starting = asyncio.Semaphore(starts_at_once)
        self._deploy_listeners: list[Callable[[dict[str, Any]], None]] = []
        self._projects: dict[str, Workflows] = {project: self}

    def of(self, project: str) -> Workflows:
        """This service for ``project`` (made once): its own plans and deployments; the hook routes (the
        plane's, whichever project holds one), the door of starts and the deploy listeners are shared."""
        found = self._projects.get(project)
        if found is None:
            found = copy.copy(self)
            found.project = project
            found._deployments = TtlCache(_READ_TTL_S)
            found._plans = TtlCache(math.inf, size=_PLAN_CACHE_SIZE)
            self._projects[project] = found
        return found

    def forget(self, project: str) -> None:
        """Drop what is kept of a deleted project."""
        if project != self.project:
            self._projects.pop(project, None)

    def on_deploy(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener`` with the outcome of every deploy here (``workflow``, ``version``, ``status``,
        ``error``), failed ones included (``knflow dev`` prints a line for each)."""
        self._deploy_listeners.append(listener)

    async def register(self, spec: WorkflowSpec, code: dict[str, bytes] | None) -> tuple[str, bool]:
        """Store a workflow version and the action versions it calls (with their code).

        Raises:
            SpecError: when the spec does not validate (unknown action, cycle, types...) or uses a
                dynamic-flow feature this control plane does not run yet (each field named).
        """
        catalogue = await self._catalogue(spec)
        await check_children(self.store, self.project, spec)
        # Checking and serialising a spec of thousands of steps takes a second or more: off the event loop.
        document, version = await asyncio.to_thread(checked_document, spec, catalogue)
        blob = pack(code) if code else None  # its paths checked first
        await check_routes(self.store, self.project, spec)
        actions = actions_of(spec)  # a custom trigger's function is built like an action's
        for action in actions:
            await check_same_code(self.store, self.project, action, code)
        now = time.time()
        digest = hashlib.sha256(blob).hexdigest() if blob else None
        for action in actions:
            await self.store.put_action_version(self.project, action.model_dump(mode="json"), blob, digest, now)
        created = await self.store.put_workflow(self.project, document, version, now)
        return version, created

    async def register_action(self, action: ActionSpec, code: dict[str, bytes] | None) -> bool:
        """Store one action version with its code (workflows registered later may call it by name).

        Raises:
            InvalidRequest: when the action has no code, here or already stored.
        """
        blob = pack(code) if code else None
        if blob is None and await self.store.get_action_version(self.project, action.name, action.version) is None:
            raise InvalidRequest(f"action {action.name} needs its code to be registered", field="code")
        await check_same_code(self.store, self.project, action, code)
        digest = hashlib.sha256(blob).hexdigest() if blob else None
        return await self.store.put_action_version(
            self.project, action.model_dump(mode="json"), blob, digest, time.time()
        )

    async def _catalogue(self, spec: WorkflowSpec) -> dict[str, ActionSpec]:
        catalogue = dict(spec.actions)
        for step in spec.steps:
            if step.action is not None and step.action not in catalogue:
                record = await self.store.get_action_version(self.project, step.action)
                if record is not None:
                    catalogue[step.action] = ActionSpec.model_validate(record.spec)
        return catalogue

    async def spec(self, name: str, version: str | None = None) -> WorkflowSpec:
        """A stored workflow version.

        Raises:
            NotFound: when there is no such workflow or version.
        """
        record = await self.store.get_workflow(self.project, name, version)
        if record is None:
            raise NotFound(
                f"workflow {name!r}" + (f" version {version!r}" if version else "") + " does not exist",
                field="workflow",
            )
        return WorkflowSpec.model_validate(record.spec)

    async def deployment(self, name: str) -> Deployment | None:
        """The workflow's deployment record (read at most once per ``_READ_TTL_S`` per replica)."""
        return await self._deployments.get(name, lambda: self.store.get_deployment(self.project, name))

    async def route(self, method: str, path: str) -> Route | None:
        """The deployed HTTP trigger at ``method path``, of whichever project holds it (read at most once per
        ``_READ_TTL_S`` per replica)."""
        return await self._routes.get((method, path), lambda: self.store.find_route(None, method, path))

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

    async def _plan(self, name: str, version: str) -> _Plan:
        return await self._plans.get((name, version), lambda: self._load_plan(name, version))

    async def _load_plan(self, name: str, version: str) -> _Plan:
        spec = await self.spec(name, version)
        result = spec.result.model_dump(mode="json") if spec.result is not None else None
        steps = plan_run(spec, spec.actions)
        return _Plan(spec, steps, result, unpinned(steps))

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

    async def check(
        self, name: str, inputs: dict[str, Any], version: str | None = None, query: Mapping[str, str] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """The version a run of ``name`` would use and its checked inputs (defaults filled in).

        ``query``: inputs given as text (an HTTP trigger's query string), read as their declared types;
        ``inputs`` win over them.

        Raises:
            NotFound: unknown workflow.
            Conflict: the workflow is not deployed.
            InvalidRequest: an input is unknown, missing or of the wrong type, names a file that is not
                one of the project's, or the workflow's concurrency key has no value (named in ``field``).
        """
        deployment = await self.deployment(name)
        if deployment is None or deployment.status != "ready":
            await self.spec(name)  # NotFound first, when the workflow does not exist at all
            raise Conflict(f"workflow {name!r} is not deployed: deploy it first", field="workflow")
        version = version or deployment.version
        plan = await self._plan(name, version)
        if query:
            inputs = {**query_inputs(plan.spec.inputs, query), **inputs}
        checked = await self._checked_files(check_inputs(plan.spec, inputs))
        run_concurrency(self.project, name, plan.spec.concurrency, checked, None)  # a key without a value: refused now
        return version, checked

    async def _checked_files(self, checked: dict[str, Any]) -> dict[str, Any]:
        # Every way in (API, hooks, events, schedules) names only its own project's files (file_scope.py).
        if self.files is not None:
            await check_input_files(self.files, self.project, checked)
        return checked

    async def offload_inputs(self, run_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """Checked inputs with each large value (over the payload threshold) moved to the object store and
        replaced by a reference: steps get the value back when invoked, the API when it shows the run."""
        if self.payloads is None:
            return inputs
        return {
            name: await self.payloads.offload(value, payload_key(run_id, "inputs", name))
            for name, value in inputs.items()
        }

    async def start(
        self,
        name: str,
        inputs: dict[str, Any],
        *,
        trigger: dict[str, Any] | None = None,
        version: str | None = None,
        idempotency: tuple[str, str] | None = None,
        run_id: str | None = None,
        trace_id: str | None = None,
        triggered: bool = False,
    ) -> Transition:
        """Start a run of a deployed workflow with validated inputs.

        Args:
            name: the workflow.
            inputs: its inputs (checked here).
            trigger: what started it, kept with the run.
            version: the workflow version (the deployed one when omitted).
            idempotency: the trigger event's (source, id): a second start with it returns the first run.
            run_id: the run's id when the trigger chose it already (an HTTP trigger waits for it).
            trace_id: the trace the run joins (from the trigger event's ``traceparent``).
            triggered: ``version`` comes from a deployed trigger (an event trigger's row, an HTTP trigger's
                event checked when published): the deployment is not read again on this hot path.

        Raises:
            NotFound: unknown workflow.
            Conflict: the workflow is not deployed.
            InvalidRequest: an input is unknown, missing or of the wrong type, or names a file that is not
                one of the project's (named in ``field``).
        """
        async with self._starting:
            new = await self.new_run(name, inputs, trigger, version, idempotency, run_id, trace_id, triggered)
            return await self.orchestrator.submit(new)

    async def new_run(
        self,
        name: str,
        inputs: dict[str, Any],
        trigger: dict[str, Any] | None,
        version: str | None,
        idempotency: tuple[str, str] | None,
        run_id: str | None = None,
        trace_id: str | None = None,
        triggered: bool = False,
    ) -> NewRun:
        """The run :meth:`start` would create (its arguments), checked, not created yet.

        Raises:
            NotFound, Conflict, InvalidRequest: as :meth:`start`.
        """
        if triggered and version is not None:
            plan = await self._plan(name, version)
            checked = await self._checked_files(check_inputs(plan.spec, inputs))
        else:
            version, checked = await self.check(name, inputs, version)
            plan = await self._plan(name, version)
        now = time.time()
        run_id = run_id or new_run_id(now)
        if (foreign := foreign_payload(checked, run_id)) is not None:
            raise InvalidRequest(
                f"input {foreign!r}: a stored-value reference ({PAYLOAD_MARKER}) is written by knflow only",
                field=f"inputs.{foreign}",
            )
        concurrency = run_concurrency(self.project, name, plan.spec.concurrency, checked, trigger)
        checked = await self.offload_inputs(run_id, checked)
        return NewRun(
            run_id=run_id,
            project=self.project,
            workflow=name,
            workflow_version=version,
            inputs=checked,
            steps=plan.steps if not plan.unpinned else await pinned_steps(self.deployment, plan.steps, plan.unpinned),
            result=plan.result,
            trigger=trigger or {"kind": "manual"},
            idempotency=idempotency,
            timeout=plan.spec.timeout,
            trace_id=trace_id or new_trace_id(),
            concurrency=concurrency,
        )
