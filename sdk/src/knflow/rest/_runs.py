"""Runs as the API shows them, and what starts one."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from ._base import Reply, Request
from ._maps import MapCounts

#: ``queued``: a run of a workflow with a concurrency limit, waiting for its key to have room
RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class RunRequest(Request):
    """``POST /v1/runs``: start a run of a deployed workflow."""

    workflow: str = Field(min_length=1)
    inputs: dict[str, Any] = Field(default_factory=dict)
    version: str | None = None


class RetryRequest(Request):
    """``POST /v1/runs/{id}/retry``: optionally, a step to run again with everything downstream of it; or
    ``latest``: a new run of the version deployed now with the run's inputs (every step runs; the reply
    is the new run, its trigger ``{"kind": "retry", "run_id", "version"}``)."""

    step: str | None = Field(default=None, min_length=1)
    latest: bool = False


class DecisionRequest(Request):
    """``POST /v1/runs/{id}/steps/{step}/approve`` or ``.../reject``: an optional comment, kept with the
    decision (who decided, the API key's id or ``local``, and when, are recorded by the control plane)."""

    comment: str | None = Field(default=None, max_length=2000)


class Attempt(Reply):
    """One attempt of a step: its inputs, outputs or error, what it printed, and when."""

    id: str
    number: int
    status: str
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    logs: str = ""
    worker: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None


class Step(Reply):
    """One step of a run with its attempts."""

    name: str
    action: str
    version: str
    status: str
    outputs: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    #: when a retry may start (a failed attempt's backoff); None unless one is waiting
    next_attempt_at: datetime | None = None
    #: what a step running no action waits for: ``{"kind": "approval", "prompt", "timeout"}`` or
    #: ``{"kind": "sleep", "seconds"}``; None for an action's step
    wait: dict[str, Any] | None = None
    #: while it waits (status ``waiting``), when its deadline passes: a sleep's end, an approval's timeout
    wake_at: datetime | None = None
    #: a sub-workflow step's latest child run (its id); None for every other step
    child_run_id: str | None = None
    #: a map step's counts of items by state, once it started (its items: ``GET .../steps/{step}/items``)
    map: MapCounts | None = None
    attempts: list[Attempt] = Field(default_factory=list)


class RunFileCount(Reply):
    """How many files a run's attempts wrote, and when retention deleted them (epoch seconds), if it did."""

    count: int
    expired_at: float | None = None


class RunQueue(Reply):
    """Where a queued run waits: its concurrency key's value (None: the workflow's one queue) and its
    place in that queue (1: it starts next), computed when the run is read."""

    key: str | None = None
    position: int


class RunSummary(Reply):
    """A run without its steps (as listed)."""

    id: str
    project: str
    workflow: str
    workflow_version: str
    status: RunStatus
    inputs: dict[str, Any] | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    trigger: dict[str, Any] | None = None
    trace_id: str | None = None
    created_at: datetime
    finished_at: datetime | None = None
    duration_ms: float | None = None
    #: the steps waiting now (an approval, a durable sleep, an event): the run is ``running`` but waits on
    #: a person or a timer, not on a worker; empty for any other run
    waiting: list[str] = Field(default_factory=list)
    #: a child run's parent run (started by a sub-workflow step); None for a top-level run
    parent_run_id: str | None = None
    #: the parent run's step that started this child run
    parent_step: str | None = None
    #: while the run is ``queued``: its concurrency key and place in the queue; None otherwise
    queue: RunQueue | None = None


class Run(RunSummary):
    """A run with its steps and their attempts."""

    steps: list[Step] = Field(default_factory=list)
    files: RunFileCount | None = None
    #: only in the light view (``?outputs=false``): the run's fields left out (``inputs``, ``result``: null
    #: above), each with its size in bytes of compact JSON; that view also leaves out steps' ``outputs`` and
    #: attempts' ``inputs``, ``outputs`` and ``logs`` (``GET /v1/runs/{id}/steps/{step}`` has them)
    omitted: dict[str, int] | None = Field(
        default=None,
        description="The light view's (?outputs=false) run fields left out: inputs, result (null), each with "
        "its size in bytes of compact JSON. That view also leaves out steps' outputs and attempts' inputs, "
        "outputs and logs; GET /v1/runs/{id}/steps/{step} has them. Null in the full view.",
    )


class RunPage(Reply):
    """One page of runs, newest first; ``next_cursor`` continues it."""

    runs: list[RunSummary]
    next_cursor: str | None = None


class LogEntry(Reply):
    """What one attempt printed."""

    step: str
    attempt: int
    status: str
    logs: str = ""


class RunLogs(Reply):
    """A run's logs, attempt by attempt."""

    run_id: str
    logs: list[LogEntry]


class HookAccepted(Reply):
    """``202`` of an HTTP trigger: the run goes on; poll ``result_link`` for its result."""

    workflow_run_id: str
    result_link: str


class HookActionError(Reply):
    """An HTTP trigger's reply when a step raised ``ActionError(code, message)``: the status is ``code``."""

    error: str | None = None
    code: int
    step: str | None = None
    workflow_run_id: str


class RunChange(Reply):
    """One event of ``GET /v1/stream`` (its ``data``, as JSON).

    Attributes:
        kind: ``hello`` (the stream is open; ``data`` has the replica and how long the stream lasts),
            ``run`` or ``step`` (a lifecycle event), ``resync`` (changes were dropped: read again).
        run_id: the run it concerns ("" for ``hello`` and ``resync`` of the whole feed).
        type: the lifecycle event's type (``dev.knflow.step.failed``...).
        step: the step, for step changes.
        run_status: the run's status after the change.
        data: small facts of the event (attempt number, workflow...); never inputs, results or errors.
    """

    kind: Literal["hello", "run", "step", "resync"]
    run_id: str = ""
    type: str = ""
    step: str | None = None
    run_status: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
