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

from knflow.spec import ActionSpec, WorkflowSpec

from ..domain.catalogue import Deployment, Route
from ..domain.children import unpinned
from ..domain.concurrency import run_concurrency
from ..domain.files import PAYLOAD_MARKER, payload_key
from ..domain.ids import new_run_id, new_trace_id
from ..domain.inputs import check_inputs, foreign_payload
from ..domain.model import PlannedStep, plan_run
from ..domain.query_inputs import query_inputs
from ..domain.records import NewRun, Transition
from ..errors import Conflict, InvalidRequest, NotFound
from ..ports import FileRecords, FunctionBackend, RunStarter, WorkflowStore
from .child_versions import pinned_steps
from .deploying import Deploying
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


class Workflows(Deploying):
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

    async def _plan(self, name: str, version: str) -> _Plan:
        return await self._plans.get((name, version), lambda: self._load_plan(name, version))

    async def _load_plan(self, name: str, version: str) -> _Plan:
        spec = await self.spec(name, version)
        result = spec.result.model_dump(mode="json") if spec.result is not None else None
        steps = plan_run(spec, spec.actions)
        return _Plan(spec, steps, result, unpinned(steps))

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
