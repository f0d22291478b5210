"""The run state machine's vocabulary: the facts it takes, the state it reads and the plan it returns.

A transition is ``plan(state, facts, context) -> Plan | Need`` (:mod:`.planner`): pure, no I/O. The
store loads the :class:`RunState` the facts need (the run, the steps the facts name and their
dependents), asks for a plan, loads more when the planner answers :class:`Need`, and persists the
:class:`Plan` in one transaction. Nothing here knows SQL; nothing in the store decides.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeAlias

from .events import LifecycleEvent
from .frozen import quick_init
from .map_state import MapChange, MapNeed, MapState
from .model import Outcome, RetryPolicy, RunStatus, StepStatus
from .records import Claim, NewRun, Worker

if TYPE_CHECKING:
    from .event_waits import ArrivedEvent, EventWait


def attempt_id(run_id: str, step: str, number: int) -> str:
    """The id of attempt ``number`` of ``step`` (the same on every replica: a replay names it again)."""
    return f"{run_id}/{step}/{number}"


@dataclass(frozen=True)
class Step:
    """A step of a run as the state machine reads and writes it.

    ``bindings`` and ``upstream`` are large for a fan-in step; the store may leave them out (None) of a
    step that cannot start now, and the planner asks for them (:class:`Need`) when it can.
    """

    name: str
    status: StepStatus
    action: str = ""
    version: str = ""
    #: the current (latest) attempt's number; 0 before the first
    attempts: int = 0
    #: ``attempts`` when the step was last (re)started: the action's retries count from there
    budget_start: int = 0
    infra_failures: int = 0
    #: upstream steps that have not succeeded yet
    waiting_on: int = 0
    dependents: tuple[str, ...] = ()
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    bindings: Mapping[str, Any] | None = None
    upstream: tuple[str, ...] | None = None
    ready_at: float | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    error: dict[str, Any] | None = None
    #: the step's condition (``knflow.dev/v2``), decided when it would start
    when: str | None = None
    #: what a step that runs no action waits for (an approval: ``{"kind", "prompt", "timeout"}``)
    wait: Mapping[str, Any] | None = None
    #: when a waiting step's deadline passes (:class:`TimerFired`), if it has one
    wake_at: float | None = None


@quick_init
@dataclass(frozen=True)
class RunState:
    """What a transition reads of one run.

    Attributes:
        steps: the steps loaded: at least those the facts name and their dependents.
        outputs: succeeded steps' outputs loaded so far (those ready steps and the result bind).
        looked_up: steps whose outputs were looked up (those absent from ``outputs`` have none).
        complete: whether ``steps`` holds every step of the run (ending or retrying a run needs them all).
    """

    run_id: str
    status: RunStatus
    remaining: int
    inputs: Mapping[str, Any]
    result_binding: Mapping[str, Any] | None
    trace_id: str | None
    steps: Mapping[str, Step]
    outputs: Mapping[str, Any] = field(default_factory=dict)
    looked_up: frozenset[str] = frozenset()
    complete: bool = False
    #: the run's project: its claims carry it (where their action, secrets and files are looked up)
    project: str = "default"
    #: the queue of its workflow's concurrency key (``domain/concurrency.py``); None without one
    concurrency_key: str | None = None
    #: map steps loaded (:mod:`.maps`): their counts and items, None for one not started
    maps: Mapping[str, MapState | None] = field(default_factory=dict)


# -- facts ------------------------------------------------------------------------------------------
@quick_init
@dataclass(frozen=True)
class AttemptFinished:
    """An attempt reported its outcome (succeeded, failed retryable or not, or lost by the platform)."""

    step: str
    attempt_id: str
    outcome: Outcome


@dataclass(frozen=True)
class LeaseExpired:
    """The lease of attempt ``number`` of ``step`` ran out (its worker stopped)."""

    step: str
    number: int


@dataclass(frozen=True)
class StepsDue:
    """A timer fired: the run's ready steps whose time has come may be claimed."""


@dataclass(frozen=True)
class RunCancelled:
    """Someone cancelled the run."""


@dataclass(frozen=True)
class RunTimedOut:
    """The run's deadline passed."""


@dataclass(frozen=True)
class RetryAsked:
    """Run a finished run again from its failed steps, or from ``step`` and everything downstream."""

    step: str | None = None


@dataclass(frozen=True)
class ApprovalDecided:
    """A person approved or rejected the waiting approval ``step``: who (a key's id or name, or
    ``local``), and why (``comment``)."""

    step: str
    approved: bool
    by: str
    comment: str | None = None


@dataclass(frozen=True)
class TimerFired:
    """The deadline of the waiting ``step`` passed (its ``wake_at``)."""

    step: str


@dataclass(frozen=True)
class StepsGranted:
    """Throttled ``steps`` whose action has room now (``throttles.py``): they start, as ready steps do."""

    steps: tuple[str, ...]


@dataclass(frozen=True)
class RunAdmitted:
    """A queued run starts: its concurrency key has room and it heads the queue (``concurrency.py``)."""


@dataclass(frozen=True)
class EventArrived:
    """``event`` matches the waiting ``step`` (found by its key: :mod:`.event_waits`)."""

    step: str
    event: ArrivedEvent


Fact: TypeAlias = (
    AttemptFinished
    | LeaseExpired
    | StepsDue
    | RunCancelled
    | RunTimedOut
    | RetryAsked
    | ApprovalDecided
    | TimerFired
    | RunAdmitted
    | StepsGranted
    | EventArrived
)


@quick_init
@dataclass(frozen=True)
class Context:
    """When the transition happens and who claims what it makes ready (None: nobody, now)."""

    now: float
    worker: Worker | None = None
    rng: random.Random = field(default_factory=random.Random)


# -- the plan ---------------------------------------------------------------------------------------
@quick_init
@dataclass(frozen=True)
class AttemptEnd:
    """An attempt's record finished: ``outcome`` for a reported one; cancelled when abandoned."""

    attempt_id: str
    status: str
    outputs: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    logs: str | None = None  # None: keep what is recorded (an abandoned attempt's logs come later)


@quick_init
@dataclass(frozen=True)
class AttemptStart:
    """A new attempt's record; ``inputs`` None when its bindings did not resolve. ``end`` when it also
    ended in the same transition (it failed to bind, or the run ended): one record written once."""

    attempt_id: str
    step: str
    number: int
    inputs: dict[str, Any] | None
    end: AttemptEnd | None = None


@quick_init
@dataclass(frozen=True)
class RunChange:
    """The run's row after the transition."""

    status: RunStatus
    remaining: int
    result: Any = None
    error: dict[str, Any] | None = None
    finished_at: float | None = None


@quick_init
@dataclass(frozen=True)
class FactResult:
    """What one fact did: nothing (``duplicate``: a replay, a fenced late result, a finished run), or
    the events it caused and the claims it made (each also in the plan's lists)."""

    duplicate: bool
    run_status: RunStatus
    events: list[LifecycleEvent] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)


@quick_init
@dataclass(frozen=True)
class Plan:
    """What a transition changes, for the store to persist in one transaction.

    Attributes:
        steps: the changed steps, as they are after it (every column the state machine owns).
        outputs: outputs of steps that succeeded in it (written with their step).
        ended: attempts whose record finishes (reported, lost or abandoned).
        started: attempts created (each with a claim, unless its inputs did not resolve).
        run: the run's row after it, or None when the run did not change.
        claims: attempts for the context's worker to invoke.
        events: lifecycle events, in order (the outbox's).
        results: one per fact, in order.
        waits: steps that started waiting for an event in it (the store indexes them: :mod:`.event_waits`).
    """

    run_id: str
    run_status: RunStatus
    steps: dict[str, Step] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    ended: list[AttemptEnd] = field(default_factory=list)
    started: list[AttemptStart] = field(default_factory=list)
    run: RunChange | None = None
    claims: list[Claim] = field(default_factory=list)
    events: list[LifecycleEvent] = field(default_factory=list)
    results: list[FactResult] = field(default_factory=list)
    #: map steps' counts and items written (:mod:`.maps`)
    maps: dict[str, MapChange] = field(default_factory=dict)
    waits: list[EventWait] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        """Whether anything is to be written."""
        return bool(self.steps or self.ended or self.started or self.run or self.events or self.maps or self.waits)


@dataclass(frozen=True)
class Need:
    """The planner needs more of the run than was loaded: load it and plan again.

    Attributes:
        outputs: succeeded steps whose outputs ready steps or the result bind.
        bindings: steps whose ``bindings`` and ``upstream`` were left out.
        all_steps: every step of the run (a run ending early, or a retry).
    """

    outputs: frozenset[str] = frozenset()
    bindings: frozenset[str] = frozenset()
    all_steps: bool = False
    #: what map steps need loaded (:mod:`.maps`)
    maps: MapNeed = field(default_factory=MapNeed)


def initial_state(new: NewRun, now: float | None = None) -> RunState:
    """A new run as the state machine sees it before anything happened: roots ready (since ``now``), the
    rest pending."""
    steps = {
        s.name: Step(
            name=s.name,
            status=StepStatus.PENDING if s.upstream else StepStatus.READY,
            action=s.action,
            version=s.version,
            waiting_on=s.waiting_on,
            dependents=tuple(s.dependents),
            policy=s.policy,
            bindings=s.inputs,
            upstream=tuple(s.upstream),
            when=s.when,
            ready_at=None if s.upstream else now,
            wait=s.wait,
        )
        for s in new.steps
    }
    return RunState(
        new.run_id,
        RunStatus.RUNNING,
        len(new.steps),
        new.inputs,
        new.result,
        new.trace_id,
        steps,
        complete=True,
        project=new.project,
        concurrency_key=new.concurrency.key if new.concurrency is not None else None,
    )


def state_after(state: RunState, done: Plan) -> RunState:
    """The run as ``done`` (planned from ``state``) leaves it: what a store that wrote the plan would read
    back (the SQLite store keeps it for the run's next transition: ``adapters/sqlalchemy/state_cache.py``).
    A step's outputs are kept while it stays succeeded, as the store reads only those."""
    outputs = {**state.outputs, **done.outputs}
    for name, step in done.steps.items():
        if step.status is not StepStatus.SUCCEEDED:
            outputs.pop(name, None)
    remaining = done.run.remaining if done.run is not None else state.remaining
    return replace(
        state, status=done.run_status, remaining=remaining, steps={**state.steps, **done.steps}, outputs=outputs
    )
