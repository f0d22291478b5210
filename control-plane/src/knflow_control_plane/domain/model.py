"""The run domain: states, their allowed transitions, run planning and retry decisions. No I/O.

The store applies these decisions in one transaction per transition; keeping them here, pure, is what
lets the SQL stay small and the rules stay testable without a database.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from knflow.bindings import upstream
from knflow.spec import ActionSpec, StepSpec, WorkflowSpec
from knflow.validation import dependencies

from .map_views import map_wait

#: Attempts lost to the platform (a crashed worker or function) are retried without using the
#: action's own retries, up to this many times per step.
MAX_INFRA_RETRIES = 5


class RunStatus(str, Enum):
    """Where a run is."""

    QUEUED = "queued"  # its workflow's concurrency key is at its limit: starts when the key has room
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Whether nothing more happens to the run unless it is retried."""
        return self is not RunStatus.RUNNING and self is not RunStatus.QUEUED


class StepStatus(str, Enum):
    """Where a step of a run is."""

    PENDING = "pending"  # waiting for upstream steps
    READY = "ready"  # claimable once its ready_at has come (now, or after a retry backoff)
    RUNNING = "running"  # an attempt holds a lease
    WAITING = "waiting"  # an approval: waits for a decision or its deadline, holding no worker
    THROTTLED = "throttled"  # ready, but its action's max_concurrency is reached: dispatched in turn
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # never ran because the run failed first


class AttemptStatus(str, Enum):
    """How one attempt of a step ended (or that it still runs)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOST = "lost"  # the worker or the function went away; retried without using the action's retries
    CANCELLED = "cancelled"


RUN_TRANSITIONS: Mapping[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),  # admitted, or cancelled while queued
    RunStatus.RUNNING: frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}),
    # a retry (a run with a concurrency key queues again, behind the runs already waiting)
    RunStatus.FAILED: frozenset({RunStatus.RUNNING, RunStatus.QUEUED}),  # retry from the failed steps
    RunStatus.CANCELLED: frozenset({RunStatus.RUNNING, RunStatus.QUEUED}),
    RunStatus.SUCCEEDED: frozenset({RunStatus.RUNNING, RunStatus.QUEUED}),  # only to retry a chosen step
}
S = StepStatus
STEP_TRANSITIONS: Mapping[StepStatus, frozenset[StepStatus]] = {
    S.PENDING: frozenset({S.READY, S.SKIPPED, S.CANCELLED}),
    S.READY: frozenset({S.RUNNING, S.WAITING, S.SKIPPED, S.CANCELLED, S.THROTTLED}),
    S.THROTTLED: frozenset({S.RUNNING, S.SKIPPED, S.CANCELLED}),  # dispatched in turn (``domain/throttles.py``)
    S.WAITING: frozenset({S.SUCCEEDED, S.FAILED, S.SKIPPED, S.CANCELLED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.READY, S.CANCELLED}),
    S.FAILED: frozenset({S.PENDING, S.READY}),
    S.CANCELLED: frozenset({S.PENDING, S.READY}),
    S.SKIPPED: frozenset({S.PENDING, S.READY}),
    S.SUCCEEDED: frozenset({S.PENDING, S.READY}),  # retried as a chosen step or downstream of one
}


class TransitionError(ValueError):
    """A state change the rules do not allow."""


class NoSuchStep(TransitionError):
    """A retry named a step the run does not have."""


def check_step_transition(old: StepStatus, new: StepStatus) -> None:
    """Raise :class:`TransitionError` unless a step may go from ``old`` to ``new``."""
    if new not in STEP_TRANSITIONS[old]:
        raise TransitionError(f"a step cannot go from {old.value} to {new.value}")


def check_run_transition(old: RunStatus, new: RunStatus) -> None:
    """Raise :class:`TransitionError` unless a run may go from ``old`` to ``new``."""
    if new not in RUN_TRANSITIONS[old]:
        raise TransitionError(f"a run cannot go from {old.value} to {new.value}")


def plan_retry(status: RunStatus, steps: Mapping[str, tuple[str, list[str]]], chosen: str | None) -> set[str]:
    """The steps a retry runs again: those that did not succeed and, when a step is ``chosen``, that
    step and everything downstream of it (their outputs are made anew; the others' are reused).

    Args:
        status: the run's status now.
        steps: each step's status and the steps upstream of it, by name.
        chosen: the step to run again even if it succeeded, or None for "from the failed steps".

    Raises:
        NoSuchStep: ``chosen`` is not one of the run's steps.
        TransitionError: the run still runs, or nothing would run again.
    """
    if status is RunStatus.QUEUED:  # queued -> running is an admission, not a retry
        raise TransitionError("a run cannot be retried while it is queued")
    check_run_transition(status, RunStatus.RUNNING)
    redo = {name for name, (step_status, _) in steps.items() if step_status != StepStatus.SUCCEEDED.value}
    if chosen is not None:
        if chosen not in steps:
            raise NoSuchStep(f"the run has no step {chosen!r}")
        below = {chosen}
        grown = True
        while grown:  # downstream closure; a workflow has at most a few hundred steps
            more = {name for name, (_, up) in steps.items() if name not in below and below.intersection(up)}
            below |= more
            grown = bool(more)
        redo |= below
    if not redo:
        raise TransitionError("every step succeeded: choose a step to run again")
    return redo


@dataclass(frozen=True)
class RetryPolicy:
    """How a step is retried: ``retries`` after the first attempt, full-jitter exponential backoff."""

    retries: int = 0
    backoff: float = 1.0
    backoff_max: float = 60.0
    timeout: float = 300.0
    #: steps of the action in progress at once across runs (``domain/throttles.py``); None: no bound
    max_concurrency: int | None = None

    @classmethod
    def of(cls, action: ActionSpec) -> RetryPolicy:
        """The policy an action's options ask for."""
        options = action.options
        limit = options.get("max_concurrency")
        return cls(options["retries"], options["backoff"], options["backoff_max"], options["timeout"], limit)

    def stored(self) -> dict[str, Any]:
        """As a step's row keeps it (a bound only when there is one: most steps' rows stay as they were)."""
        kept = vars(self)
        return kept if self.max_concurrency is not None else {k: v for k, v in kept.items() if k != "max_concurrency"}

    def delay(self, retry_index: int, rng: random.Random) -> float:
        """Seconds before retry number ``retry_index`` (0-based): uniform in [0, min(cap, base * 2^i)]."""
        ceiling = min(self.backoff_max, self.backoff * (2 ** min(retry_index, 30)))
        return rng.uniform(0, ceiling)


@dataclass(frozen=True)
class PlannedStep:
    """A step as a new run holds it: what it calls, what it waits for, who waits for it."""

    name: str
    action: str
    version: str
    inputs: dict[str, Any]
    upstream: tuple[str, ...]
    dependents: tuple[str, ...]
    policy: RetryPolicy
    #: the step's condition, if it has one (``knflow.dev/v2``)
    when: str | None = None
    #: what a step that runs no action waits for (``{"kind": "approval", "prompt", "timeout"}``)
    wait: dict[str, Any] | None = None

    @property
    def waiting_on(self) -> int:
        """Upstream steps that must succeed before this one is ready."""
        return len(self.upstream)


def plan_run(spec: WorkflowSpec, actions: Mapping[str, ActionSpec]) -> list[PlannedStep]:
    """The steps of a new run of ``spec``, with the action versions in ``actions`` (by name)."""
    deps = dependencies(spec)
    dependents: dict[str, list[str]] = {step.name: [] for step in spec.steps}
    for name, ups in deps.items():
        for up in ups:
            dependents[up].append(name)
    planned = []
    for step in spec.steps:
        wait = _wait_of(step)
        if wait is not None:
            planned.append(
                PlannedStep(
                    name=step.name,
                    action="",
                    version="",
                    inputs=_bindings_of(step),
                    upstream=tuple(sorted(deps[step.name])),
                    dependents=tuple(sorted(dependents[step.name])),
                    policy=RetryPolicy(),
                    when=step.when,
                    wait=wait,
                )
            )
            continue
        if step.action is None:  # registration refuses the other kinds until the engine runs them
            raise TransitionError(f"step {step.name}: a {step.kind} step is not run by this control plane yet")
        action = actions[step.action]
        planned.append(
            PlannedStep(
                name=step.name,
                action=action.name,
                version=action.version,
                inputs={k: b.model_dump(mode="json") for k, b in step.inputs.items()},
                upstream=tuple(sorted(deps[step.name])),
                dependents=tuple(sorted(dependents[step.name])),
                policy=RetryPolicy.of(action),
                when=step.when,
                wait=map_wait(step),
            )
        )
    return planned


def _wait_of(step: StepSpec) -> dict[str, Any] | None:
    """What a step that runs no action waits for, as its row keeps it; None for the other kinds."""
    if step.approval is not None:
        return {"kind": "approval", "prompt": step.approval.prompt, "timeout": step.approval.timeout}
    if step.sleep is not None:
        return {"kind": "sleep", "seconds": step.sleep.seconds}
    if step.workflow is not None:  # a child run: runs without a worker too, once started (domain/children.py)
        return {"kind": "workflow", "workflow": step.workflow.name, "version": step.workflow.version}
    if step.wait_for_event is not None:
        waits = step.wait_for_event
        return {"kind": "event", "type": waits.type, "source": waits.source, "timeout": waits.timeout}
    return None


def _bindings_of(step: StepSpec) -> dict[str, Any]:
    """What a step running no action binds as it starts: a sub-workflow's inputs, an event wait's match
    (by data path: its values are the wait's key)."""
    if step.wait_for_event is not None:
        return {path: b.model_dump(mode="json") for path, b in step.wait_for_event.match.items()}
    return {k: b.model_dump(mode="json") for k, b in step.inputs.items()}


@dataclass(frozen=True)
class Outcome:
    """What an attempt reported.

    Attributes:
        status: SUCCEEDED, FAILED or LOST.
        outputs: the step's outputs when it succeeded.
        error: ``{"type", "message", "code", "retryable", "traceback"}`` when it did not.
        logs: what the action printed or logged.
    """

    status: AttemptStatus
    outputs: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    logs: str = ""

    @classmethod
    def succeeded(cls, outputs: dict[str, Any], logs: str = "") -> Outcome:
        """A success with ``outputs``."""
        return cls(AttemptStatus.SUCCEEDED, outputs=outputs, logs=logs)

    @classmethod
    def failed(cls, error: dict[str, Any], logs: str = "") -> Outcome:
        """A failure; ``error["retryable"]`` says whether the action's retries apply."""
        return cls(AttemptStatus.FAILED, error=error, logs=logs)

    @classmethod
    def lost(cls, message: str) -> Outcome:
        """The platform lost the attempt (worker or function gone)."""
        error = {"type": "AttemptLost", "message": message, "code": None, "retryable": True, "traceback": None}
        return cls(AttemptStatus.LOST, error=error)


@dataclass(frozen=True)
class StepCounters:
    """How many attempts a step has used since it was (re)started."""

    attempts_in_budget: int
    infra_failures: int


@dataclass(frozen=True)
class Decision:
    """What happens to a step after an attempt that did not succeed."""

    status: StepStatus  # READY (retry) or FAILED
    retry_in: float = 0.0
    infra: bool = False


def decide_after_failure(outcome: Outcome, counters: StepCounters, policy: RetryPolicy, rng: random.Random) -> Decision:
    """Retry (after how long) or fail, given the outcome of the latest attempt."""
    if outcome.status is AttemptStatus.LOST:
        if counters.infra_failures < MAX_INFRA_RETRIES:
            return Decision(StepStatus.READY, retry_in=min(0.05 * 2**counters.infra_failures, 2.0), infra=True)
        return Decision(StepStatus.FAILED)
    retryable = bool((outcome.error or {}).get("retryable", True))
    used_retries = counters.attempts_in_budget - 1
    if retryable and used_retries < policy.retries:
        return Decision(StepStatus.READY, retry_in=policy.delay(used_retries, rng))
    return Decision(StepStatus.FAILED)


def result_steps(result_binding: Mapping[str, Any] | None) -> set[str]:
    """Steps whose outputs the workflow's result reads."""
    return set(upstream(result_binding)) if result_binding else set()
