"""Per-action ``max_concurrency``: steps of an action in progress at once across all runs. No I/O.

The rules, once each:

- A ready step of an action with a ``max_concurrency`` is never claimed by its run's own transitions: it
  is held as ``throttled`` (:func:`held`: ready, not dispatched; ``step.throttled``), its inputs bound
  (or its condition read) when it starts.
- The dispatcher (``service/throttles.py``) starts throttled steps holding the action's lock: while fewer
  than the limit of its steps run, the oldest throttled ones (the time they became ready, then run and
  step) start (:class:`~.transitions.StepsGranted`), FIFO across runs.
- A throttled step of a run that ends is cancelled or skipped like any step that did not start.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from . import events as ev
from .model import StepStatus
from .plan_draft import PlanDraft
from .transitions import Step


@dataclass(frozen=True)
class Throttled:
    """A throttled step waiting for its action's room, in order, with the limit its policy holds."""

    run_id: str
    step: str
    limit: int


def action_key(project: str, action: str) -> str:
    """The lock key of an action's slots (one per project and action name)."""
    return json.dumps([project, "action", action], separators=(",", ":"))


def held(draft: PlanDraft, step: Step, granted: frozenset[str]) -> bool:
    """Whether a step about to be claimed waits for the dispatcher instead: a step of an action with a
    ``max_concurrency`` not granted a slot (held now, as ``throttled``, if it was ready; its inputs and
    condition are read when it is granted one)."""
    if step.policy.max_concurrency is None or step.name in granted or step.wait is not None:
        return False
    if step.status is StepStatus.READY:
        draft.move(step, StepStatus.THROTTLED)
        draft.emit(ev.STEP_THROTTLED, step.name, action=step.action)
    return True


def grants(running: int, waiting: Sequence[Throttled]) -> list[Throttled]:
    """The throttled steps that start now: in order, while fewer than the limit run (no overtaking)."""
    started = []
    for throttled in waiting:
        if running >= throttled.limit:
            break
        started.append(throttled)
        running += 1
    return started
