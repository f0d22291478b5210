"""How a run ends, and how a finished run runs again, as the planner decides it. No I/O.

A run whose steps all succeeded ends with its result; one that ends otherwise (a step failed, it was
cancelled or timed out) starts nothing more: steps not started are skipped (cancelled when the run was),
and its running attempts are abandoned, or, when a step failed it, left to land (a success is kept for a
retry to reuse). A retry runs the failed steps, or a chosen one and everything downstream, again.

The planner's ``_Draft`` derives from :class:`RunEnding`; these are its methods, moved here as they were.
"""

from __future__ import annotations

from typing import Any

from knflow.bindings import BindingError, resolve

from . import events as ev
from .map_views import is_map
from .maps import MapDraft
from .model import AttemptStatus, Outcome, RunStatus, StepStatus, check_run_transition, plan_retry, result_steps
from .transitions import AttemptEnd, Need, RunChange, Step, attempt_id

S = StepStatus
_RUN_ENDED = {
    RunStatus.SUCCEEDED: ev.RUN_SUCCEEDED,
    RunStatus.FAILED: ev.RUN_FAILED,
    RunStatus.CANCELLED: ev.RUN_CANCELLED,
}
CANCELLED_ERROR = {"type": "Cancelled", "message": "cancelled", "step": None}
TIMEOUT_ERROR = {"type": "RunTimeout", "message": "the run exceeded its timeout", "step": None}


class Missing(Exception):
    """Raised inside the planner when the state lacks something it must have now."""

    def __init__(self, need: Need):
        self.need = need


class RunEnding(MapDraft):
    """The end of a run and its retry (the planner's ``_Draft`` derives from it)."""

    def finish(self) -> None:
        """End a run whose steps have all succeeded, with its result."""
        binding = self.state.result_binding
        if not binding:
            self.end_run(RunStatus.SUCCEEDED)
            return
        outputs = self.outputs_of(result_steps(binding))
        if outputs is None:
            return
        try:
            result = resolve(binding, self.state.inputs, outputs, "result")
        except BindingError as exc:
            self.end_run(RunStatus.FAILED, error={"type": "BindingError", "message": str(exc), "step": None})
            return
        self.end_run(RunStatus.SUCCEEDED, result=result)

    def end_run(
        self, status: RunStatus, *, result: Any = None, error: dict[str, Any] | None = None, abandon: bool = False
    ) -> None:
        """Finish the run; unless it succeeded, steps not started never will. Running attempts are
        abandoned (their claims withdrawn, their late results refused) when the run is cancelled or
        ``abandon``; a run failed by a step lets them finish (:meth:`landed_after_failure`)."""
        check_run_transition(self.status, status)
        if status is not RunStatus.SUCCEEDED:
            if not self.state.complete:
                raise Missing(Need(all_steps=True))
            self.close_maps(cancel=abandon or status is RunStatus.CANCELLED)
            leftover = S.CANCELLED if status is RunStatus.CANCELLED else S.SKIPPED
            for step in sorted(self.steps.values(), key=lambda s: s.name):
                if step.status in (S.PENDING, S.READY, S.WAITING, S.THROTTLED):
                    self.move(step, leftover, finished_at=self.now, wake_at=None)
                elif step.status is S.RUNNING and (abandon or status is RunStatus.CANCELLED):
                    self.abandon(step)
        self.status = status
        self.run = RunChange(status, self.remaining, result, error, self.now)
        self.emit(_RUN_ENDED[status], None, result=result, error=error)

    def landed_after_failure(self, step: Step, outcome: Outcome) -> None:
        """An attempt still running when its run failed: its success is kept (a retry reuses it), its
        failure cancels the step; nothing follows either."""
        cleared: dict[str, Any] = {"finished_at": self.now, "lease_owner": None, "lease_expires_at": None}
        if outcome.status is AttemptStatus.SUCCEEDED:
            self.move(step, S.SUCCEEDED, error=None, **cleared)
            self.outputs[step.name] = outcome.outputs or {}
            self.emit(ev.STEP_SUCCEEDED, step.name)
        else:
            self.move(step, S.CANCELLED, error=outcome.error, **cleared)

    def abandon(self, step: Step) -> None:
        if step.wait is not None and is_map(step.wait):  # no attempt of its own: its items (:mod:`.maps`)
            self.abandon_map(step)
            return
        current = attempt_id(self.state.run_id, step.name, step.attempts)
        self.ended.append(AttemptEnd(current, AttemptStatus.CANCELLED.value))
        self.withdrawn.add(current)
        self.move(step, S.CANCELLED, finished_at=self.now, lease_owner=None, lease_expires_at=None)

    def retry(self, chosen: str | None) -> None:
        """Run a finished run again (:func:`~.model.plan_retry`); each step run again gets its full
        retry budget; the others' outputs are reused."""
        if not self.state.complete:
            raise Missing(Need(all_steps=True))
        upstream = {name: (step.status.value, list(step.upstream or ())) for name, step in self.steps.items()}
        again = plan_retry(self.status, upstream, chosen)
        done = {name for name in self.steps if name not in again}
        redo = sorted(again)
        # a run with a concurrency key queues again: nothing ready until it is admitted
        queued = self.state.concurrency_key is not None
        for name in redo:
            step = self.steps[name]
            if step.status is S.RUNNING:  # left running by an older version: its attempt is abandoned first
                self.abandon(step)
                step = self.steps[name]
            waiting = sum(1 for up in step.upstream or () if up not in done)
            ready = waiting == 0 and not queued
            self.move(
                step,
                S.READY if ready else S.PENDING,
                waiting_on=waiting,
                ready_at=self.now if ready else None,
                budget_start=step.attempts,
                infra_failures=0,
                error=None,
                finished_at=None,
                lease_owner=None,
                lease_expires_at=None,
            )
        self.maps_again(redo, set(again))
        status = RunStatus.QUEUED if queued else RunStatus.RUNNING
        check_run_transition(self.status, status)
        self.status, self.remaining = status, len(redo)
        self.run = RunChange(status, self.remaining)
        self.emit(ev.RUN_QUEUED if queued else ev.RUN_STARTED, None, retry=True, steps=redo)
