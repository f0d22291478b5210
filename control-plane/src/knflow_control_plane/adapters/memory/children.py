"""Child runs of sub-workflow steps in memory: the twin of ``adapters/sqlalchemy/children.py`` (the
:class:`~knflow_control_plane.ports.ChildRunStore` port), over :class:`~.runs.MemoryRuns`' dicts."""

from __future__ import annotations

from dataclasses import replace

from ...domain.children import child_outcome
from ...domain.model import RunStatus, StepStatus
from ...domain.records import Claim, NewRun, Transition, Worker
from ...domain.transitions import AttemptFinished, Context, Fact, attempt_id
from ...service.state_machine import apply_facts, as_transition
from .runs import MemoryRuns, _applied

_GOING = (RunStatus.RUNNING.value, RunStatus.QUEUED.value)  # its end is still to come


class MemoryChildren(MemoryRuns):
    """:class:`MemoryRuns` with child runs (one event loop runs each call to its end: nothing to lock)."""

    async def start_child(self, claim: Claim, new: NewRun, now: float, worker: Worker) -> Transition | None:
        """Create the child run and record it on the parent step, unless the step moved on (None)."""
        step = self._steps.get(claim.run_id, {}).get(claim.step)
        if step is None or (step.status, step.attempts, step.lease_owner) != (
            StepStatus.RUNNING,
            claim.number,
            worker.name,
        ):
            return None
        created = await self.create_run(new, now, worker)
        self._runs[created.run_id].update(parent_run_id=claim.run_id, parent_step=claim.step)
        self._steps[claim.run_id][claim.step] = replace(step, lease_owner=None, lease_expires_at=None)
        self._child_of[(claim.run_id, claim.step)] = created.run_id
        return created

    async def run_depth(self, run_id: str, limit: int) -> int:
        """How many parent runs ``run_id`` has, up to ``limit``."""
        found, current = 0, self._runs.get(run_id, {}).get("parent_run_id")
        while current is not None and found < limit:
            found, current = found + 1, self._runs.get(current, {}).get("parent_run_id")
        return found

    async def settle_child(self, child_run_id: str, now: float, worker: Worker | None = None) -> Transition | None:
        """The ended child's outcome for its parent step; None when nothing waits for it."""
        child = self._runs.get(child_run_id)
        if child is None or child.get("parent_run_id") is None or child["status"] in _GOING:
            return None
        facts = self._settling([(child["parent_run_id"], child["parent_step"])])
        if not facts:
            return None
        parent = child["parent_run_id"]
        return as_transition(parent, apply_facts(self, facts, Context(now, worker, self.rng))[parent])

    async def settle_children(self, now: float, worker: Worker | None = None) -> list[Transition]:
        """:meth:`settle_child` of every ended child whose parent step still waits for it."""
        facts = self._settling(sorted(self._child_of))
        return _applied(apply_facts(self, facts, Context(now, worker, self.rng), skip_locked=True))

    def _settling(self, keys: list[tuple[str, str]]) -> dict[str, list[Fact]]:
        facts: dict[str, list[Fact]] = {}
        for run_id, name in keys:
            step, child_id = self._steps[run_id][name], self._child_of.get((run_id, name))
            child = self._runs.get(child_id or "")
            if child is None or step.status is not StepStatus.RUNNING or child["status"] in _GOING:
                continue
            outcome = child_outcome(child["id"], child["workflow"], child["status"], child["result"], child["error"])
            facts.setdefault(run_id, []).append(AttemptFinished(name, attempt_id(run_id, name, step.attempts), outcome))
        return facts

    async def orphan_children(self) -> list[tuple[str, str]]:
        """(run, project) of the running child runs whose parent step no longer runs them."""
        found = []
        for run_id, run in sorted(self._runs.items()):
            parent, name = run.get("parent_run_id"), run.get("parent_step")
            if parent is None or run["status"] not in _GOING:
                continue
            step = self._steps.get(parent, {}).get(name or "")
            if (
                step is None
                or step.status is not StepStatus.RUNNING
                or self._child_of.get((parent, name or "")) != run_id
            ):
                found.append((run_id, run["project"]))
        return found

    async def running_children(self, run_id: str) -> list[str]:
        """The running child runs of ``run_id``."""
        return [
            child
            for child, run in sorted(self._runs.items())
            if run.get("parent_run_id") == run_id and run["status"] in _GOING
        ]
