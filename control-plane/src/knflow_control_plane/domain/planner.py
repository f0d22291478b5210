"""The run state machine: every decision a transition makes, from facts and the run's state to a plan.

Pure: the store loads a :class:`~.transitions.RunState`, calls :func:`plan` and persists the
:class:`~.transitions.Plan` (or loads what a :class:`~.transitions.Need` names, and calls again). Every
step status change goes through :meth:`~.plan_draft.PlanDraft.move`, which allows only what
:data:`~.model.STEP_TRANSITIONS` allows.

The rules, once each:

- An attempt's outcome counts only while its step runs that attempt (fencing): a replay, a late result
  after the lease expired, or a result after the run ended changes nothing (``duplicate``).
- A success releases each dependent; one whose upstream have all succeeded becomes ready. A run whose
  steps have all succeeded ends with its result.
- A failure is retried (after a backoff) or fails the step, and the run with it
  (:func:`~.model.decide_after_failure`).
- A run that ends without succeeding starts nothing more: steps not started are skipped (cancelled
  when the run was). A cancelled or timed-out run abandons its running attempts (their late results
  are refused); a run failed by a step lets them land: a success is kept for a retry to reuse.
- Ready steps whose time has come are claimed for the context's worker, up to its capacity; inputs that
  do not bind fail the step at once (not retryable).
- A step with a ``when`` that is false, or that reads a skipped step outside ``first_of``, is skipped as
  it would be claimed, and releases its dependents as a success does; a condition that cannot be
  evaluated fails it like inputs that do not bind (:func:`~.conditions.decide_release`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from knflow.bindings import BindingError, resolve
from knflow.conditions import ConditionError

from . import events as ev
from .children import is_child
from .concurrency import admit, plan_queued
from .conditions import Verdict, decide_release
from .event_waits import is_event_wait, registration
from .event_waits import waiting_data as event_waiting_data
from .map_views import is_map
from .maps import NeedMore
from .model import (
    AttemptStatus,
    Outcome,
    RunStatus,
    StepCounters,
    StepStatus,
    decide_after_failure,
)
from .records import Claim, NewRun
from .run_ending import CANCELLED_ERROR, TIMEOUT_ERROR, Missing, RunEnding
from .throttles import held
from .transitions import (
    ApprovalDecided,
    AttemptEnd,
    AttemptFinished,
    AttemptStart,
    Context,
    EventArrived,
    Fact,
    LeaseExpired,
    Need,
    Plan,
    RetryAsked,
    RunAdmitted,
    RunCancelled,
    RunState,
    RunTimedOut,
    Step,
    StepsDue,
    StepsGranted,
    TimerFired,
    attempt_id,
    initial_state,
)
from .waits import wait_ended, waiting_data, wake_at

S = StepStatus
LEASE_LOST = "lease expired: the worker stopped"


def plan(state: RunState, facts: Sequence[Fact], context: Context) -> Plan | Need:
    """Apply ``facts`` to the run, in order, as if each came alone; the plan, or what to load first.

    Raises:
        TransitionError: a retry the rules refuse (the run still runs, nothing to run again).
        NoSuchStep: a retry names a step the run does not have.
    """
    draft = _Draft(state, context)
    draft.facts = facts  # a map step loads the items of all of them at once (:mod:`.maps`)
    try:
        for fact in facts:
            draft.apply(fact)
    except (Missing, NeedMore) as missing:
        return missing.need
    if draft.need_outputs or draft.need_bindings:
        return Need(outputs=frozenset(draft.need_outputs), bindings=frozenset(draft.need_bindings))
    return draft.plan()


def plan_creation(new: NewRun, context: Context) -> tuple[RunState, Plan]:
    """A new run's first state and the plan that starts it: ``run.started``, then its roots claimed for
    the context's worker (when there is one). The store inserts the state with the plan applied. A run
    its store found without room in its concurrency key's queue is created queued instead."""
    if new.queued:
        return plan_queued(new, context)
    state = initial_state(new, context.now)
    draft = _Draft(state, context)
    draft.creating = True
    draft.emit(ev.RUN_STARTED, None, workflow=new.workflow, version=new.workflow_version)
    draft.apply(StepsDue())
    assert not draft.need_outputs  # roots bind nothing but the run's inputs
    assert not draft.need_bindings
    return state, draft.plan()


class _Draft(RunEnding):
    """A plan being made, by the rules above (its bookkeeping: :class:`~.plan_draft.PlanDraft`)."""

    #: throttled steps a :class:`StepsGranted` lets start now (:mod:`.throttles`)
    granted: frozenset[str] = frozenset()
    #: the plan starts a new run (:func:`plan_creation`)
    creating = False

    # -- the facts -------------------------------------------------------------------------------
    def apply(self, fact: Fact) -> None:
        """One fact; its :class:`FactResult` appended."""
        events, claims = len(self.events), len(self.claims)
        if isinstance(fact, AttemptFinished):
            applied = self.attempt_finished(fact.step, fact.attempt_id, fact.outcome, claim_next=True)
        elif isinstance(fact, LeaseExpired):
            applied = self.lease_expired(fact.step, fact.number)
        elif isinstance(fact, StepsDue):
            applied = self.status is RunStatus.RUNNING
            if applied:
                self.claim(sorted(n for n, s in self.steps.items() if s.status is S.READY))
        elif isinstance(fact, RunCancelled | RunTimedOut):
            applied = self.status is RunStatus.RUNNING or (
                self.status is RunStatus.QUEUED and isinstance(fact, RunCancelled)
            )
            if applied:
                cancelled = isinstance(fact, RunCancelled)
                status = RunStatus.CANCELLED if cancelled else RunStatus.FAILED
                self.end_run(status, error=dict(CANCELLED_ERROR if cancelled else TIMEOUT_ERROR), abandon=True)
        elif isinstance(fact, ApprovalDecided | TimerFired | EventArrived):
            applied = self.wait_over(fact)
        elif isinstance(fact, RetryAsked):
            self.retry(fact.step)
            applied = True
        elif isinstance(fact, RunAdmitted):
            applied = admit(self, self.claim)
        elif isinstance(fact, StepsGranted):  # :mod:`.throttles`: their action has room now
            applied = self.status is RunStatus.RUNNING
            if applied:
                self.granted = frozenset(fact.steps)
                self.claim(fact.steps)
                self.granted = frozenset()
        else:  # pragma: no cover - the Fact union is closed
            raise TypeError(f"not a fact: {fact!r}")
        self.spans.append((not applied, self.status, events, len(self.events), claims, len(self.claims)))

    def attempt_finished(self, name: str, attempt: str, outcome: Outcome, *, claim_next: bool) -> bool:
        """Record an attempt's outcome if its step still runs it (else False: nothing changes)."""
        step = self.steps.get(name)
        if step is None and "[" in name:  # an item of a map step (:mod:`.maps`)
            return self.item_finished(name, attempt, outcome)
        if (
            step is None
            or step.status is not S.RUNNING
            or attempt != attempt_id(self.state.run_id, name, step.attempts)
            or self.status in (RunStatus.SUCCEEDED, RunStatus.CANCELLED)
        ):
            return False
        self.ended.append(AttemptEnd(attempt, outcome.status.value, outcome.outputs, outcome.error, outcome.logs))
        if self.status is RunStatus.FAILED:
            self.landed_after_failure(step, outcome)
        elif outcome.status is AttemptStatus.SUCCEEDED:
            self.succeeded(step, outcome.outputs or {}, claim_next=claim_next)
        else:
            self.not_succeeded(step, outcome, claim_next=claim_next)
        return True

    def lease_expired(self, name: str, number: int) -> bool:
        """A running attempt whose lease ran out is lost (not if it was renewed or has finished)."""
        step = self.steps.get(name)
        if step is None and "[" in name:  # an item of a map step (:mod:`.maps`)
            return self.item_lease_expired(name, number)
        if step is None or step.status is not S.RUNNING or step.attempts != number:
            return False
        if step.lease_expires_at is not None and step.lease_expires_at >= self.now:
            return False  # renewed since it was seen expired
        lost = Outcome.lost(LEASE_LOST)
        return self.attempt_finished(name, attempt_id(self.state.run_id, name, number), lost, claim_next=False)

    def wait_over(self, fact: ApprovalDecided | TimerFired | EventArrived) -> bool:
        """A waiting step's decision or deadline (:func:`~.waits.wait_ended`): it succeeds, or fails and
        its run with it. False when the step does not wait (any more) or the run has ended."""
        step = self.steps.get(fact.step)
        if step is None or step.status is not S.WAITING or self.status is not RunStatus.RUNNING:
            return False
        end = wait_ended(step, fact, self.now)
        if end is None:
            return False
        if end.outputs is not None:
            self.succeeded(self.update(step, wake_at=None), end.outputs, claim_next=True)
            return True
        self.move(step, S.FAILED, error=end.error, finished_at=self.now, wake_at=None)
        self.emit(ev.STEP_FAILED, step.name, error=end.error)
        self.end_run(RunStatus.FAILED, error={"step": step.name, **(end.error or {})})
        return True

    # -- the rules -------------------------------------------------------------------------------
    def succeeded(self, step: Step, outputs: dict[str, Any], *, claim_next: bool) -> None:
        done = self.move(step, S.SUCCEEDED, error=None, finished_at=self.now, lease_owner=None, lease_expires_at=None)
        self.outputs[done.name] = outputs
        self.emit(ev.STEP_SUCCEEDED, done.name)
        ready = self.release(done)
        if self.remaining > 0 and claim_next and ready:
            self.claim(sorted(ready))

    def release(self, done: Step) -> list[str]:
        """A step is done (succeeded, or skipped): each dependent waits for one step less; those that wait
        for none are ready (returned). The run ends when no step remains."""
        ready = []
        for name in done.dependents:
            dependent = self.steps.get(name)
            if dependent is None:
                raise Missing(Need(all_steps=True))
            if dependent.status is not S.PENDING:
                continue
            if dependent.waiting_on <= 1:
                ready.append(self.move(dependent, S.READY, waiting_on=0, ready_at=self.now).name)
            else:
                self.update(dependent, waiting_on=dependent.waiting_on - 1)
        self.remaining -= 1
        self.touch_run()
        if self.remaining <= 0:
            self.finish()
        return ready

    def skip(self, step: Step, reason: str) -> list[str]:
        """A ready step that does not run (:func:`~.conditions.decide_release`); its newly ready dependents."""
        done = self.move(step, S.SKIPPED, finished_at=self.now)
        self.emit(ev.STEP_SKIPPED, step.name, reason=reason)
        return self.release(done)

    def not_succeeded(self, step: Step, outcome: Outcome, *, claim_next: bool) -> None:
        counters = StepCounters(step.attempts - step.budget_start, step.infra_failures)
        decision = decide_after_failure(outcome, counters, step.policy, self.context.rng)
        cleared: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
        if decision.status is S.READY:
            infra = step.infra_failures + (1 if decision.infra else 0)
            self.move(step, S.READY, ready_at=self.now + decision.retry_in, infra_failures=infra, **cleared)
            self.emit(ev.STEP_RETRYING, step.name, retry_in=decision.retry_in, error=outcome.error)
            if claim_next and decision.retry_in == 0:
                self.claim([step.name])
            return
        self.move(step, S.FAILED, error=outcome.error, finished_at=self.now, **cleared)
        self.emit(ev.STEP_FAILED, step.name, error=outcome.error)
        self.end_run(RunStatus.FAILED, error={"step": step.name, **(outcome.error or {})})

    def claim(self, names: Iterable[str]) -> None:
        """Start an attempt of each ready step of ``names`` whose time has come, within the worker's room."""
        worker = self.context.worker
        if worker is None:
            return
        queue = deque(names)  # a skipped step readies its dependents here: a loop, not a recursion
        while queue:
            name = queue.popleft()
            step = self.steps[name]
            if len(self.claims) >= worker.capacity or self.status is not RunStatus.RUNNING:
                return
            if (
                (step.status is not S.READY and not (step.status is S.THROTTLED and name in self.granted))
                or (step.ready_at is not None and step.ready_at > self.now)
                or (step.wait is not None and is_map(step.wait) and self.resume_map(step))  # :mod:`.maps`
                or held(self, step, self.granted)  # :mod:`.throttles`: its action's slots go in turn
            ):
                continue
            inputs = self.bind(step)
            if inputs is _UNBOUND:
                continue  # planned again once what it binds is loaded
            if isinstance(inputs, _Skip):
                queue.extend(sorted(self.skip(step, inputs.reason)))
                continue
            child = None
            if step.wait is not None and is_map(step.wait) and (inputs := self.start_map(step, inputs)) is None:
                continue  # started: its items are claimed (an error fails it as inputs that do not bind do)
            if step.wait is not None:
                if is_child(step):  # claimed like an action: the claim starts its child run
                    child = step.wait
                elif not isinstance(inputs, _NOT_BOUND):
                    self.start_wait(step, inputs)
                    continue
            number = step.attempts + 1
            current = attempt_id(self.state.run_id, name, number)
            started_at = step.started_at if step.started_at is not None else self.now
            until = self.now + worker.lease
            running = self.move(
                step, S.RUNNING, attempts=number, lease_owner=worker.name, lease_expires_at=until, started_at=started_at
            )
            if isinstance(inputs, _NOT_BOUND):
                self.started.append(AttemptStart(current, name, number, None))
                error = {"type": type(inputs).__name__, "message": str(inputs), "code": 400, "retryable": False}
                self.attempt_finished(name, current, Outcome.failed({**error, "traceback": None}), claim_next=False)
                continue
            self.started.append(AttemptStart(current, name, number, inputs))
            deadline = self.now + float(running.policy.timeout)
            trace = self.state.trace_id
            self.claims.append(
                Claim(
                    current,
                    self.state.run_id,
                    name,
                    number,
                    step.action,
                    step.version,
                    inputs,
                    deadline,
                    trace,
                    self.state.project,
                    child,
                    step.policy.max_concurrency is not None,
                )
            )
            self.emit(ev.STEP_STARTED, name, attempt=number)

    def start_wait(self, step: Step, values: dict[str, Any]) -> None:
        """A ready step that runs no action starts waiting; an event wait, with its match bound to
        ``values``, is indexed by them (:mod:`.event_waits`). A new run's event wait stays ready for the
        orchestrator's next claim: a run's creation (one batched insert) writes no index."""
        event = is_event_wait(step)
        if event and self.creating:
            return
        self.move(step, S.WAITING, started_at=self.now, wake_at=wake_at(step, self.now))
        data = waiting_data(step, self.now)
        if event:
            self.waits.append(registration(self.state.run_id, self.state.project, step, values))
            data.update(event_waiting_data(step, values))
        self.emit(ev.STEP_WAITING, step.name, **data)

    def bind(self, step: Step) -> Any:
        """A ready step's inputs; the :class:`BindingError` when they do not resolve; ``_UNBOUND`` when
        something to bind them was not loaded (noted in the draft's needs)."""
        if step.bindings is None or step.upstream is None:
            self.need_bindings.add(step.name)
            return _UNBOUND
        outputs = self.outputs_of(step.upstream)
        if outputs is None:
            return _UNBOUND
        if step.when is not None or len(outputs) < len(step.upstream):  # a condition, or a branch not run
            skipped = set(step.upstream) - set(outputs)
            decision = decide_release(step.when, step.bindings, self.state.inputs, outputs, skipped)
            if decision.verdict is Verdict.SKIP:
                return _Skip(decision.reason)
            if decision.verdict is Verdict.FAIL:
                return ConditionError(f"steps.{step.name}.{decision.reason}")
        try:
            return {
                k: resolve(b, self.state.inputs, outputs, f"steps.{step.name}.inputs.{k}")
                for k, b in step.bindings.items()
            }
        except BindingError as exc:
            return exc


_UNBOUND: Any = object()
#: What ``bind`` answers for inputs or a condition that cannot be resolved (a tuple: ``isinstance`` with
#: a ``|`` union builds the union on every call).
_NOT_BOUND = (BindingError, ConditionError)


@dataclass(frozen=True)
class _Skip:
    """What the draft's ``bind`` answers for a step that does not run, and why."""

    reason: str
