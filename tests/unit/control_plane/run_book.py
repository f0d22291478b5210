"""A run held in memory that loads state for the planner and applies its plans, as the store does.

It loads as little as the SQL store does (the steps the facts name and their dependents, large columns
only of dependents that may start), answers the planner's :class:`Need` by loading more, and checks on
every write what the database's conditions would (an attempt's record ends once, a step written exists).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from knflow_control_plane.domain.events import LifecycleEvent
from knflow_control_plane.domain.model import AttemptStatus, PlannedStep, RetryPolicy
from knflow_control_plane.domain.planner import plan, plan_creation
from knflow_control_plane.domain.records import NewRun, Worker
from knflow_control_plane.domain.transitions import (
    AttemptFinished,
    Context,
    Fact,
    LeaseExpired,
    Need,
    Plan,
    RunState,
    Step,
    initial_state,
)


def dag_run(upstream: dict[str, list[str]], retries: dict[str, int], result: str | None) -> NewRun:
    """A run of a DAG given as each step's upstream (in an order where upstream come first)."""
    dependents: dict[str, list[str]] = {name: [] for name in upstream}
    for name, ups in upstream.items():
        for up in ups:
            dependents[up].append(name)
    steps = [
        PlannedStep(
            name=name,
            action="work",
            version="v1",
            inputs={"x": {"input": "x"}, **{f"from_{up}": {"step": up, "output": "v"} for up in ups}},
            upstream=tuple(sorted(ups)),
            dependents=tuple(sorted(dependents[name])),
            policy=RetryPolicy(retries=retries.get(name, 0), backoff=0.0),
        )
        for name, ups in upstream.items()
    ]
    binding = {"step": result, "output": "v"} if result else None
    return NewRun("run-1", "default", "dag", "v1", {"x": 1}, steps, binding)


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

    @classmethod
    def create(cls, new: NewRun, context: Context, *, partial: bool = True) -> tuple[RunBook, Plan]:
        state, first = plan_creation(new, context)
        book = cls(state, partial=partial)
        book.apply(first)
        return book, first

    def load(self, facts: list[Fact], need: Need | None) -> RunState:
        """What the store would load for ``facts`` (and ``need``, when the planner asked for more)."""
        steps = self.run.steps
        if not self.partial or (need is not None and need.all_steps):
            return replace(self.run, outputs=dict(self.outputs), looked_up=frozenset(steps), complete=True)
        named = {f.step for f in facts if isinstance(f, AttemptFinished | LeaseExpired)} & set(steps)
        wanted = named | {d for n in named for d in steps[n].dependents}
        if not any(isinstance(f, AttemptFinished | LeaseExpired) for f in facts):
            wanted |= set(steps)  # a timer: the store reads the ready steps
        bound = len(facts) + (len(need.bindings) if need else 0)
        loaded = {}
        for name in wanted:
            step = steps[name]
            keep = (
                step.waiting_on <= bound or (need is not None and name in need.bindings) or step.status.value == "ready"
            )
            loaded[name] = step if keep else replace(step, bindings=None, upstream=None)
        asked = need.outputs if need else frozenset()
        outputs = {n: self.outputs[n] for n in asked if n in self.outputs and steps[n].status.value == "succeeded"}
        return replace(self.run, steps=loaded, outputs=outputs, looked_up=frozenset(asked), complete=False)

    def transition(self, facts: list[Fact], context: Context) -> Plan:
        """Load, plan (loading more while the planner needs it), apply."""
        need: Need | None = None
        for _ in range(5):
            seed = context.rng.random()
            got = plan(self.load(facts, need), facts, replace(context, rng=random.Random(seed)))
            if isinstance(got, Plan):
                self.apply(got)
                return got
            need = Need(
                outputs=got.outputs | (need.outputs if need else frozenset()),
                bindings=got.bindings | (need.bindings if need else frozenset()),
                all_steps=got.all_steps or (need.all_steps if need else False),
            )
        raise AssertionError(f"the planner kept asking for more: {need}")

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


def _full(after: Step, before: Step) -> Step:
    """A step as written: large columns left out of the load are not overwritten."""
    if after.bindings is None:
        after = replace(after, bindings=before.bindings, upstream=before.upstream)
    return after


def worker(capacity: int) -> Worker:
    """A worker with room for ``capacity`` attempts and a lease of 10 s."""
    return Worker("w", lease=10.0, capacity=capacity)


__all__ = ["RunBook", "dag_run", "initial_state", "worker"]
