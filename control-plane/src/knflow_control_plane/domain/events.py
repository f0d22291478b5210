"""Lifecycle events that transitions cause; the outbox relays them as CloudEvents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from .frozen import quick_init

RUN_STARTED: Final = "dev.knflow.run.started"
#: a run waits in its workflow's concurrency queue (``domain/concurrency.py``); ``run.started`` follows
RUN_QUEUED: Final = "dev.knflow.run.queued"
RUN_SUCCEEDED: Final = "dev.knflow.run.succeeded"
RUN_FAILED: Final = "dev.knflow.run.failed"
RUN_CANCELLED: Final = "dev.knflow.run.cancelled"
STEP_STARTED: Final = "dev.knflow.step.started"
STEP_SUCCEEDED: Final = "dev.knflow.step.succeeded"
STEP_FAILED: Final = "dev.knflow.step.failed"
STEP_RETRYING: Final = "dev.knflow.step.retrying"
#: a step that did not run: its ``when`` was false, or it reads a step that did not run (``data.reason``)
STEP_SKIPPED: Final = "dev.knflow.step.skipped"
STEP_WAITING: Final = "dev.knflow.step.waiting"
#: a ready step whose action's ``max_concurrency`` is reached: dispatched in turn (``domain/throttles.py``)
STEP_THROTTLED: Final = "dev.knflow.step.throttled"


@quick_init
@dataclass(frozen=True)
class LifecycleEvent:
    """Something that happened to a run or one of its steps.

    Attributes:
        type: one of the ``dev.knflow.run.*`` / ``dev.knflow.step.*`` types above.
        run_id: the run it belongs to.
        step: the step, for step events.
        data: the event's JSON data.
    """

    type: str
    run_id: str
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
