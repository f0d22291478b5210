"""A plan being made: the bookkeeping under :mod:`.planner`'s rules.

:class:`PlanDraft` holds the run as the facts so far left it (steps, outputs, attempts started and ended,
claims, events) and turns it into a :class:`~.transitions.Plan`. Every step status change goes through
:meth:`PlanDraft.move`, which allows only what :data:`~.model.STEP_TRANSITIONS` allows. The rules that
decide the changes are the planner's; nothing here decides anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .event_waits import EventWait
from .events import LifecycleEvent
from .model import STEP_TRANSITIONS, RunStatus, StepStatus, check_step_transition
from .records import Claim
from .transitions import AttemptEnd, AttemptStart, Context, FactResult, Plan, RunChange, RunState, Step

S = StepStatus


class PlanDraft:
    """The run as the facts so far left it, and the plan it makes."""

    def __init__(self, state: RunState, context: Context):
        self.state, self.context, self.now = state, context, context.now
        self.steps: dict[str, Step] = dict(state.steps)
        self.changed: dict[str, Step] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.status, self.remaining = state.status, state.remaining
        self.run: RunChange | None = None
        self.run_touched = False
        self.ended: list[AttemptEnd] = []
        self.started: list[AttemptStart] = []
        self.claims: list[Claim] = []
        self.events: list[LifecycleEvent] = []
        self.spans: list[tuple[bool, RunStatus, int, int, int, int]] = []
        self.withdrawn: set[str] = set()
        self.need_outputs: set[str] = set()
        self.need_bindings: set[str] = set()
        self.waits: list[EventWait] = []

    def move(self, step: Step, status: StepStatus, **changes: Any) -> Step:
        """``step`` to ``status`` (only as :data:`~.model.STEP_TRANSITIONS` allows), with ``changes``."""
        if status not in STEP_TRANSITIONS[step.status]:
            check_step_transition(step.status, status)  # raises, naming both
        return self.update(step, status=status, **changes)

    def update(self, step: Step, **changes: Any) -> Step:
        # ``dataclasses.replace`` costs as much as the rest of a transition's planning: a copy of the
        # frozen record's fields, then the changes (fields only, as ``replace`` would check).
        after = object.__new__(Step)
        fields = after.__dict__
        fields.update(step.__dict__)
        fields.update(changes)
        self.steps[step.name] = self.changed[step.name] = after
        return after

    def touch_run(self) -> None:
        """The run's row changes (its count of steps left); written as :meth:`plan` finds it."""
        self.run_touched = True

    def emit(self, type_: str, step: str | None, **data: Any) -> None:
        self.events.append(LifecycleEvent(type_, self.state.run_id, step, data))

    def outputs_of(self, names: Iterable[str]) -> dict[str, Any] | None:
        """The outputs of ``names`` that exist (made now or loaded); None if some were not loaded."""
        found, missing = {}, set()
        for name in names:
            if name in self.outputs:
                found[name] = self.outputs[name]
            elif name in self.state.outputs:
                found[name] = self.state.outputs[name]
            elif name in self.state.looked_up:
                continue  # no outputs: binding to it fails
            elif name not in self.steps or self.steps[name].status is S.SUCCEEDED:
                missing.add(name)  # a step not loaded, or one that succeeded before: its outputs are stored
        if missing:
            self.need_outputs |= missing
            return None
        return found

    def plan(self) -> Plan:
        run = self.run
        if (run is None and self.run_touched) or (run is not None and run.status is RunStatus.RUNNING):
            run = RunChange(RunStatus.RUNNING, self.remaining)
        # An attempt started and ended by this plan is written once, as it ends.
        ends = {end.attempt_id: end for end in self.ended}
        started = self.started
        if ends and started:
            started = [
                AttemptStart(s.attempt_id, s.step, s.number, s.inputs, ends.pop(s.attempt_id))
                if s.attempt_id in ends
                else s
                for s in started
            ]
        ended = [end for end in self.ended if end.attempt_id in ends]
        withdrawn = self.withdrawn
        claims = [c for c in self.claims if c.attempt_id not in withdrawn] if withdrawn else self.claims
        results = [
            FactResult(
                duplicate,
                status,
                self.events[e0:e1],
                [c for c in self.claims[c0:c1] if c.attempt_id not in withdrawn],
            )
            for duplicate, status, e0, e1, c0, c1 in self.spans
        ]
        return Plan(
            self.state.run_id,
            self.status,
            self.changed,
            self.outputs,
            ended,
            started,
            run,
            claims,
            self.events,
            results,
            waits=self.waits,
        )
