"""Child runs of sub-workflow steps: started when their step's claim is executed, their end recorded as
the step's outcome, and cancelled when nothing waits for them any more. The rules are the planner's
(``domain/children.py``); the store makes each change one transaction (``ports.ChildRunStore``).

- Start: the claim's lease keeps the step while the child's run is built (its workflow, version and
  inputs checked as a run started by the API); the store then creates it and records it on the step in
  one transaction, unless the step moved on. A replica that dies before that commit leaves no child: the
  lease expires and the step is claimed again.
- End: a child started here is settled into its parent step as soon as its run ends on this replica;
  the poll (:meth:`ChildRuns.sweep`) settles the others (ended elsewhere, or before a restart). The
  planner's fencing records the outcome once, whoever settles it first.
- Cancel: cancelling a run cancels its running children, and theirs (:meth:`ChildRuns.cancel_below`);
  the poll cancels any child whose parent step no longer runs it (its run timed out or was retried).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

from ..domain.children import MAX_DEPTH, not_started
from ..domain.files import payload_keys
from ..domain.model import Outcome
from ..domain.records import Claim, NewRun, Transition
from ..errors import Conflict, ControlPlaneError, InvalidRequest, NotFound
from ..ports import ChildRunStore, Clock, RunTransitions

if TYPE_CHECKING:
    from .orchestrator import Orchestrator
    from .workflows import Workflows

log = logging.getLogger(__name__)


class ChildStore(ChildRunStore, RunTransitions, Protocol):
    """What child runs change: their own transitions and their parents'."""


class ChildRuns:
    """The child runs of the sub-workflow steps this replica claims.

    Args:
        store: the run store.
        workflows: builds each child's run (its project's workflows service, by ``of``).
        orchestrator: applies the transitions (the child's roots claimed, the parent advanced).
        clock: the time.
    """

    def __init__(self, store: ChildStore, workflows: Workflows, orchestrator: Orchestrator, clock: Clock):
        self.store, self.workflows, self.orchestrator, self.clock = store, workflows, orchestrator, clock
        #: children started here and still running: settled into their parent step the moment they end
        self._mine: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def _now(self) -> float:
        return self.clock.now().timestamp()

    async def start(self, claim: Claim) -> None:
        """Start the child run of the sub-workflow step ``claim`` holds; a child that cannot start (not
        deployed, inputs refused, nested too deep) fails the step, not retried."""
        assert claim.child is not None
        name, version = str(claim.child["workflow"]), claim.child.get("version")
        built = await self._build(claim, name, version)
        worker = self.orchestrator.worker()
        if isinstance(built, Outcome):
            done = await self.store.complete(claim.run_id, claim.step, claim.attempt_id, built, self._now(), worker)
            self.orchestrator.apply(done)
            return
        started = await self.store.start_child(claim, built, self._now(), worker)
        if started is None:
            return  # the step moved on (cancelled, lease lost): no child
        if not started.run_status.finished:
            self._mine.add(started.run_id)
        self.orchestrator.apply(started)
        if started.run_status.finished:  # a child with nothing to run ends as it starts
            self._settle_soon(started.run_id)

    async def _build(self, claim: Claim, name: str, version: str | None) -> NewRun | Outcome:
        depth = await self.store.run_depth(claim.run_id, MAX_DEPTH)
        if depth >= MAX_DEPTH:
            why = f"runs nest at most {MAX_DEPTH} deep (a workflow calling itself, directly or through others?)"
            return not_started(name, why, "ChildRunTooDeep")
        trigger = {"kind": "workflow", "run_id": claim.run_id, "step": claim.step}
        inputs = dict(claim.inputs)
        files = self.orchestrator.files
        if files is not None and payload_keys(inputs):  # a large value of the parent's: the child stores its own
            inputs = await files.payloads.resolve(inputs)
        try:
            return await self.workflows.of(claim.project).new_run(
                name,
                inputs,
                trigger,
                version,
                idempotency=("knflow/sub-workflow", claim.attempt_id),  # one child per attempt, whatever happens
                trace_id=claim.trace_id,  # one trace: the parent's
            )
        except (NotFound, Conflict, InvalidRequest) as exc:
            field = exc.fields.get("field")
            return not_started(name, f"{exc}" + (f" ({field})" if field else ""))

    def on_transition(self, transition: Transition) -> None:
        """A transition on this replica: a child started here that ended is settled into its parent now."""
        if self._mine and transition.run_id in self._mine and transition.run_status.finished:
            self._mine.discard(transition.run_id)
            self._settle_soon(transition.run_id)

    def _settle_soon(self, child_run_id: str) -> None:
        task = asyncio.create_task(self._settle(child_run_id), name=f"settle child {child_run_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, child_run_id: str) -> None:
        try:
            done = await self.store.settle_child(child_run_id, self._now(), self.orchestrator.worker())
        except Exception:  # an outage, or a bug: never a lost task
            log.warning("could not settle child run %s now; the poll will", child_run_id, exc_info=True)
            return
        if done is not None:
            self.orchestrator.apply(done)

    async def sweep(self) -> None:
        """The poll's: settle the ended children nobody settled, cancel the children nobody waits for.

        Raises:
            ControlPlaneError: the store is unreachable (the poll backs off); any other failure is logged,
                never the poll's end.
        """
        try:
            await self._sweep()
        except ControlPlaneError:
            raise
        except Exception:
            log.exception("the look for child runs to settle or cancel failed; the next poll looks again")

    async def _sweep(self) -> None:
        for done in await self.store.settle_children(self._now(), self.orchestrator.worker()):
            self.orchestrator.apply(done)
        for run_id, project in await self.store.orphan_children():
            cancelled = await self.store.cancel_run(run_id, self._now(), project)
            if cancelled is not None:
                self.orchestrator.apply(cancelled)

    async def cancel_below(self, run_id: str, project: str) -> None:
        """Cancel the running children of a cancelled run, and theirs."""
        for child in await self.store.running_children(run_id):
            cancelled = await self.store.cancel_run(child, self._now(), project)
            if cancelled is not None:
                self.orchestrator.apply(cancelled)
            await self.cancel_below(child, project)
