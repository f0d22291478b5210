"""What the run store takes and gives back: plain frozen records, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .events import LifecycleEvent
from .frozen import quick_init
from .map_views import MapCounts
from .model import PlannedStep, RunStatus

if TYPE_CHECKING:
    from .concurrency import RunConcurrency


@dataclass(frozen=True)
class Worker:
    """Who claims attempts, for how long (lease, seconds), and how many more it may hold (capacity)."""

    name: str
    lease: float
    capacity: int


@dataclass(frozen=True)
class NewRun:
    """A run about to be created.

    Attributes:
        run_id: a new, time-ordered id.
        project: the owning project.
        workflow: the workflow's name.
        workflow_version: the spec version it runs.
        inputs: validated workflow inputs.
        steps: the planned steps.
        result: the result binding (spec form), if any.
        trigger: what started it (``{"kind": "http", ...}``).
        idempotency: ``(source, event_id)`` of the trigger event, when there is one.
        timeout: seconds the whole run may take, if limited.
        trace_id: the trace the run belongs to.
        concurrency: its workflow's concurrency key and limit, and its priority in the key's queue.
        queued: the store found its key without room: it is created queued (``domain/concurrency.py``).
    """

    run_id: str
    project: str
    workflow: str
    workflow_version: str
    inputs: dict[str, Any]
    steps: list[PlannedStep]
    result: dict[str, Any] | None = None
    trigger: dict[str, Any] = field(default_factory=dict)
    idempotency: tuple[str, str] | None = None
    timeout: float | None = None
    trace_id: str | None = None
    concurrency: RunConcurrency | None = None
    queued: bool = False


@quick_init
@dataclass(frozen=True)
class Claim:
    """An attempt a worker holds a lease on and must now invoke."""

    attempt_id: str
    run_id: str
    step: str
    number: int
    action: str
    version: str
    inputs: dict[str, Any]
    deadline: float
    trace_id: str | None = None
    #: the run's project: where its action, secrets and files are looked up
    project: str = "default"
    #: a sub-workflow step's ``wait`` (the workflow and version its child run runs); None for an action
    child: Mapping[str, Any] | None = None
    #: its action has a ``max_concurrency``: its end frees a slot for a throttled step (``throttles.py``)
    throttled: bool = False


@quick_init
@dataclass(frozen=True)
class Transition:
    """What one transaction did: the run's status after it, new claims and the events it caused."""

    run_id: str
    run_status: RunStatus
    claims: list[Claim] = field(default_factory=list)
    events: list[LifecycleEvent] = field(default_factory=list)
    duplicate: bool = False
    created: bool = True


@dataclass(frozen=True)
class AttemptView:
    """One attempt, as the API shows it."""

    attempt_id: str
    number: int
    status: str
    inputs: dict[str, Any] | None
    outputs: dict[str, Any] | None
    error: dict[str, Any] | None
    logs: str
    worker: str | None
    started_at: float | None
    finished_at: float | None


@dataclass(frozen=True)
class StepView:
    """One step of a run, as the API shows it."""

    name: str
    action: str
    version: str
    status: str
    attempts: list[AttemptView]
    outputs: dict[str, Any] | None
    error: dict[str, Any] | None
    started_at: float | None
    finished_at: float | None
    #: when a retry of this step may start (a failed attempt's backoff); None unless one is waiting
    next_attempt_at: float | None = None
    #: what a step running no action waits for (an approval's prompt and timeout, a sleep's seconds)
    wait: dict[str, Any] | None = None
    #: while it waits, when its deadline passes (a sleep's end, an approval's timeout)
    wake_at: float | None = None
    #: a sub-workflow step's latest child run
    child_run_id: str | None = None
    #: a map step's counts of items by state, once it started
    map: MapCounts | None = None


@dataclass(frozen=True)
class QueuePlace:
    """Where a queued run waits: its concurrency key's value (None: its workflow's one queue), and its
    place in the queue (1: it starts next)."""

    key: str | None
    position: int


@dataclass(frozen=True)
class RunView:
    """A run, as the API shows it."""

    run_id: str
    project: str
    workflow: str
    workflow_version: str
    status: str
    inputs: dict[str, Any]
    result: Any
    error: dict[str, Any] | None
    trigger: dict[str, Any]
    trace_id: str | None
    created_at: float
    finished_at: float | None
    steps: list[StepView] = field(default_factory=list)
    #: the steps that wait now (an approval, a sleep, an event): the run is running but nothing of it runs
    waiting: list[str] = field(default_factory=list)
    #: a child run's parent run and the sub-workflow step that started it
    parent_run_id: str | None = None
    parent_step: str | None = None
    #: while it is queued: where (``domain/concurrency.py``)
    queue: QueuePlace | None = None


@dataclass(frozen=True)
class RunFilter:
    """Which runs to list; ``cursor`` continues an earlier page."""

    project: str = "default"
    workflow: str | None = None
    status: str | None = None
    since: float | None = None
    until: float | None = None
    cursor: str | None = None
    limit: int = 50
    #: True: only the runs with a waiting step; False: only those without one; None: either
    waiting: bool | None = None
    #: only the runs no sub-workflow step started (children left out)
    top_level: bool = False
    #: only the child runs of this run
    parent_run_id: str | None = None


@dataclass(frozen=True)
class Page:
    """One page of runs and the cursor of the next page, if any."""

    runs: list[RunView]
    next_cursor: str | None


@dataclass(frozen=True)
class DeployedTrigger:
    """A deployed workflow's event (or custom ``@trigger`` source) trigger, at its position among them."""

    project: str
    workflow: str
    position: int
    #: the workflow version whose spec declared it (the runs it starts pin this version)
    version: str
    #: the trigger as stored (``kind`` ``event`` or ``source``, and its spec's fields)
    trigger: dict[str, Any]


@dataclass(frozen=True)
class Schedule:
    """A deployed workflow's schedule trigger, at its position among the workflow's schedules."""

    project: str
    workflow: str
    position: int
    #: the workflow version whose spec declared it (the runs it starts pin this version)
    version: str
    #: the ``ScheduleTrigger`` as stored (``cron``, ``timezone``, ``inputs``, ``missed``)
    trigger: dict[str, Any]
    #: the time (epoch seconds) up to which its ticks are fired; only moves forward
    cursor: float
