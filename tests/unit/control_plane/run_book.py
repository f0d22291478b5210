"""A run held in memory behind the ``RunStates`` port, driven by the store's own loop (``apply_facts``).

It loads as little as the SQL store does (the steps the facts name and their dependents, large columns
only of dependents that may start), answers the planner's :class:`Need` by loading more, and checks on
every write what the database's conditions would (an attempt's record ends once, a step written exists).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from knflow_control_plane.adapters.memory.maps import MemoryMaps
from knflow_control_plane.domain.concurrency import QueuedRun
from knflow_control_plane.domain.events import LifecycleEvent
from knflow_control_plane.domain.model import AttemptStatus, PlannedStep, RetryPolicy, StepStatus
from knflow_control_plane.domain.planner import plan_creation
from knflow_control_plane.domain.records import NewRun, Worker
from knflow_control_plane.domain.throttles import Throttled
from knflow_control_plane.domain.transitions import (
    AttemptFinished,
    Context,
    Fact,
    LeaseExpired,
    Need,
    Plan,
    RunState,
    Step,
    StepsDue,
    initial_state,
)
from knflow_control_plane.service.state_machine import apply_facts

#: what a waiting step of each kind (``dag_run``'s ``waits``) waits for, and the output its dependents read
WAITS: dict[str, tuple[dict[str, Any], str]] = {
    "event": ({"kind": "event", "type": "t", "source": None, "timeout": 5.0}, "event"),
    "approval": ({"kind": "approval", "prompt": "?", "timeout": 5.0}, "approved"),
    "sleep": ({"kind": "sleep", "seconds": 3.0}, "woke_at"),
}


def dag_run(
    upstream: dict[str, list[str]],
    retries: dict[str, int],
    result: str | None,
    children: frozenset[str] = frozenset(),
    maps: Mapping[str, str] | None = None,
    items: int = 3,
    waits: Mapping[str, str] | None = None,
) -> NewRun:
    """A run of a DAG given as each step's upstream (in an order where upstream come first); the steps in
    ``children`` are sub-workflow steps (each attempt starts a child run of workflow ``child``); those in
    ``maps`` are map steps over the run's input ``items`` (``items`` of them, 2 at a time; their
    ``on_error``), bound downstream by their joined ``result``; those in ``waits`` wait (an ``event``, an
    ``approval`` or a ``sleep``: :data:`WAITS`) instead of running."""
    maps, waits = maps or {}, waits or {}
    dependents: dict[str, list[str]] = {name: [] for name in upstream}
    for name, ups in upstream.items():
        for up in ups:
            dependents[up].append(name)

    def output(step: str) -> str:
        return "result" if step in maps else WAITS[waits[step]][1] if step in waits else "v"

    def wait_of(name: str) -> dict[str, Any] | None:
        if name in children:
            return {"kind": "workflow", "workflow": "child", "version": "v1"}
        if name in maps:
            return {"kind": "map", "over": ["item"], "max_parallel": 2, "on_error": maps[name]}
        return WAITS[waits[name]][0] if name in waits else None

    def inputs_of(name: str, ups: list[str]) -> dict[str, Any]:
        if name in waits:
            return {"k": {"input": "x"}} if waits[name] == "event" else {}
        return {
            "x": {"input": "x"},
            **({"item": {"input": "items"}} if name in maps else {}),
            **{f"from_{up}": {"step": up, "output": output(up)} for up in ups},
        }

    steps = [
        PlannedStep(
            name=name,
            action="" if name in waits else "work",
            version="" if name in waits else "v1",
            inputs=inputs_of(name, ups),
            upstream=tuple(sorted(ups)),
            dependents=tuple(sorted(dependents[name])),
            policy=RetryPolicy(retries=retries.get(name, 0), backoff=0.0),
            wait=wait_of(name),
        )
        for name, ups in upstream.items()
    ]
    binding = {"step": result, "output": output(result)} if result else None
    return NewRun("run-1", "default", "dag", "v1", {"x": 1, "items": list(range(items))}, steps, binding)


@dataclass
class RunBook:
    """One run's rows, in memory."""

    run: RunState
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: dict[str, str] = field(default_factory=dict)
    attempt_outputs: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    events: list[LifecycleEvent] = field(default_factory=list)
    partial: bool = True
    result: Any = None
    error: dict[str, Any] | None = None
    #: the map steps' counts and items, as the stores keep them
    maps: MemoryMaps = field(default_factory=MemoryMaps)
    #: the state the last plan was made from (the last one loaded)
    planned_from: RunState | None = None

    @classmethod
    def create(cls, new: NewRun, context: Context, *, partial: bool = True) -> tuple[RunBook, Plan]:
        state, first = plan_creation(new, context)
        book = cls(state, partial=partial)
        book.apply(first)
        return book, first

    # -- the RunStates port (``ports/store.py``), as the SQL store implements it -------------------
    def lock(self, run_ids: Sequence[str], *, skip_locked: bool) -> list[str]:
        return [r for r in run_ids if r == self.run.run_id]

    def load_for(self, facts: Mapping[str, Sequence[Fact]], now: float) -> dict[str, RunState]:
        """What the store would load: the steps the facts name and their dependents (bindings only of
        those that may start), the ready ones for a timer, every step to end or retry the run."""
        run_facts = facts.get(self.run.run_id)
        if run_facts is None:
            return {}
        steps = self.run.steps
        named = {f.step for f in run_facts if isinstance(f, AttemptFinished | LeaseExpired)} & set(steps)
        wanted = named | {d for n in named for d in steps[n].dependents}
        every = not self.partial or any(not isinstance(f, AttemptFinished | LeaseExpired | StepsDue) for f in run_facts)
        if every:
            wanted = set(steps)
        elif any(isinstance(f, StepsDue) for f in run_facts):
            wanted |= {n for n, s in steps.items() if s.status is StepStatus.READY}
        bound = max(1, len(named))
        loaded = {
            name: steps[name]
            if every or steps[name].waiting_on <= bound or steps[name].status is StepStatus.READY
            else replace(steps[name], bindings=None, upstream=None)
            for name in wanted
        }
        self.planned_from = replace(self.run, steps=loaded, outputs={}, complete=every)
        return {self.run.run_id: self.planned_from}

    def load_more(self, state: RunState, need: Need, now: float) -> RunState:
        steps = dict(state.steps)
        if need.all_steps:
            steps = {**self.run.steps, **{n: s for n, s in steps.items() if s.bindings is not None}}
        for name in need.bindings:
            steps[name] = self.run.steps[name]
        found = {
            n: self.outputs[n]
            for n in need.outputs
            if n in self.outputs and self.run.steps[n].status is StepStatus.SUCCEEDED
        }
        state = replace(
            state,
            steps=steps,
            outputs={**state.outputs, **found},
            looked_up=state.looked_up | need.outputs,
            complete=state.complete or need.all_steps,
        )
        self.planned_from = self.maps.load(state, need.maps) if need.maps else state
        return self.planned_from

    def persist(self, plans: Sequence[tuple[Plan, Context]]) -> None:
        for done, _ in plans:
            self.apply(done)

    # a book's run has no concurrency key: the state machine never asks for its queue
    def queue_of(self, key: str, bound: int) -> tuple[int, list[QueuedRun]]:
        raise AssertionError(f"a run without a concurrency key has no queue ({key})")

    def admitted(self, run_ids: Sequence[str], now: float) -> None:
        raise AssertionError(f"nothing queued here to start: {run_ids}")

    def requeue(self, run_ids: Sequence[str], now: float) -> None:
        raise AssertionError(f"nothing to queue again here: {run_ids}")

    def throttle_of(self, project: str, action: str, bound: int) -> tuple[int, list[Throttled]]:
        raise AssertionError(f"a book's actions have no max_concurrency ({action})")

    def transition(self, facts: list[Fact], context: Context) -> Plan:
        """Load, plan (loading more while the planner needs it), apply: the store's own loop."""
        done = apply_facts(self, {self.run.run_id: facts}, context)[self.run.run_id]
        assert done is not None
        return done

    def apply(self, done: Plan) -> None:
        """Persist a plan, checking what the database's conditions would."""
        steps = dict(self.run.steps)
        for name, step in done.steps.items():
            assert name in steps, f"a plan wrote a step the run does not have: {name}"
            steps[name] = _full(step, steps[name])
        for start in done.started:
            assert start.attempt_id not in self.attempts, f"attempt {start.attempt_id} started twice"
            self.attempts[start.attempt_id] = start.end.status if start.end else AttemptStatus.RUNNING.value
        for end in done.ended:
            assert self.attempts.get(end.attempt_id) == AttemptStatus.RUNNING.value, f"{end} ends a finished attempt"
            self.attempts[end.attempt_id] = end.status
            self.attempt_outputs[end.attempt_id] = end.outputs
        self.outputs.update(done.outputs)
        run = self.run
        if done.run is not None:
            run = replace(run, status=done.run.status, remaining=done.run.remaining)
            self.result, self.error = done.run.result, done.run.error
        self.run = replace(run, steps=steps)
        self.events += done.events
        for change in done.maps.values():
            assert change.step in steps and steps[change.step].wait is not None, f"{change.step} is not a map"
            self.maps.write(self.run.run_id, change, 0.0)


def _full(after: Step, before: Step) -> Step:
    """A step as written: large columns left out of the load are not overwritten."""
    if after.bindings is None:
        after = replace(after, bindings=before.bindings, upstream=before.upstream)
    return after


def worker(capacity: int) -> Worker:
    """A worker with room for ``capacity`` attempts and a lease of 10 s."""
    return Worker("w", lease=10.0, capacity=capacity)


__all__ = ["RunBook", "dag_run", "initial_state", "worker"]
