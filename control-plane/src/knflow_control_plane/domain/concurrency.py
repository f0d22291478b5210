"""Run concurrency: a workflow's ``Concurrency(key, limit)`` bounds its runs in progress per key; the
others wait in the key's queue (status ``queued``) and start in order, priority first, then arrival. No I/O.

The rules, once each:

- A run's key is the value its inputs hold at the key's path (``inputs.customer``), or one queue for
  all the workflow's runs when the key is None; a run whose inputs hold no value there is refused.
- A new run starts at once only when its key has room and nobody waits in its queue; otherwise it is
  created ``queued`` (:func:`plan_queued`: nothing ready, nothing claimed, ``run.queued``).
- When a run of a key leaves ``running`` (it ended) or a run enters the queue (created queued, or
  retried), the runs at the head of the queue start while the key has room (:func:`admissions`), in the
  same transaction (:class:`RunAdmitted`: ``run.started``, its roots ready and claimed).
- A retried run of a keyed workflow queues again, behind the runs already waiting.
- Cancelling a queued run takes it out of the queue (it never started, nothing else changes).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from knflow import Concurrency

from ..errors import InvalidRequest
from . import events as ev
from .model import RunStatus, StepStatus, check_run_transition
from .plan_draft import PlanDraft
from .records import NewRun
from .transitions import Context, FactResult, Plan, RunChange, RunState, initial_state

#: the most queued runs one transaction starts for one key (the rest start in the next ones)
ADMIT_AT_ONCE = 1000


@dataclass(frozen=True)
class RunConcurrency:
    """What a new run of a workflow with a concurrency limit carries.

    Attributes:
        key: the queue it belongs to (project, workflow and the key's value), as stored and locked.
        limit: runs of the key in progress at once.
        priority: its place before runs of lower priority in the queue (-1000..1000; 0 by default).
    """

    key: str
    limit: int
    priority: int = 0


@dataclass(frozen=True)
class QueuedRun:
    """A run waiting in a key's queue, in order (priority desc, arrival), with the limit it was made under."""

    run_id: str
    limit: int


def queue_key(project: str, workflow: str, value: str | None) -> str:
    """The stored key of a queue: runs of one workflow of one project with the same key value."""
    return json.dumps([project, workflow, value], separators=(",", ":"))


def key_label(key: str) -> str | None:
    """The key's value as the API shows it (None: the workflow's one queue)."""
    value = json.loads(key)[2]
    return value if value is None else str(value)


def key_value(path: str, inputs: Mapping[str, Any]) -> str:
    """The value at ``path`` (``inputs.customer.region``) as text: a string as it is, anything else as JSON.

    Raises:
        InvalidRequest: the inputs hold nothing there (or null), naming the key's path.
    """
    found: Any = inputs
    for part in path.split(".")[1:]:
        found = found.get(part) if isinstance(found, Mapping) else None
        if found is None:
            raise InvalidRequest(f"the concurrency key {path} needs a value in the run's inputs", field=path)
    return found if isinstance(found, str) else json.dumps(found, sort_keys=True, separators=(",", ":"))


def run_concurrency(
    project: str, workflow: str, spec: Concurrency | None, inputs: Mapping[str, Any], trigger: Mapping[str, Any] | None
) -> RunConcurrency | None:
    """The concurrency a new run carries, or None when its workflow sets none (it pays nothing then); its
    priority is its trigger's (``trigger["priority"]``, kept in the run's trigger record), 0 without one.

    Raises:
        InvalidRequest: the key's path holds no value in ``inputs`` (named in ``field``).
    """
    if spec is None:
        return None
    value = None if spec.key is None else key_value(spec.key, inputs)
    priority = (trigger or {}).get("priority")
    return RunConcurrency(queue_key(project, workflow, value), spec.limit, priority if isinstance(priority, int) else 0)


def starts_now(running: int, queued: int, limit: int) -> bool:
    """Whether a new run of a key starts at once: room under the limit, and nobody waiting before it."""
    return queued == 0 and running < limit


def admissions(running: int, queue: Sequence[QueuedRun]) -> list[str]:
    """The runs at the head of a key's queue that start now: in order, each while the key has room under
    its own limit (the limit of the version it runs); no run overtakes the one before it."""
    started = []
    for queued in queue:
        if running >= queued.limit:
            break
        started.append(queued.run_id)
        running += 1
    return started


def plan_queued(new: NewRun, context: Context) -> tuple[RunState, Plan]:
    """A new run that waits in its key's queue: its steps pending (roots with nothing to wait for),
    nothing claimed, ``run.queued``; the store inserts the state as it is."""
    state = initial_state(new, context.now)
    steps = {
        name: replace(step, status=StepStatus.PENDING, ready_at=None) if step.status is StepStatus.READY else step
        for name, step in state.steps.items()
    }
    state = replace(state, status=RunStatus.QUEUED, steps=steps)
    data = {"workflow": new.workflow, "version": new.workflow_version}
    event = ev.LifecycleEvent(ev.RUN_QUEUED, new.run_id, None, data)
    return state, Plan(new.run_id, RunStatus.QUEUED, events=[event], results=[FactResult(False, RunStatus.QUEUED)])


def admit(draft: PlanDraft, claim: Callable[[Iterable[str]], None]) -> bool:
    """Apply :class:`RunAdmitted`: a queued run starts (``run.started``), its roots ready and claimed.
    False when the run is not queued (cancelled meanwhile: nothing changes)."""
    if draft.status is not RunStatus.QUEUED:
        return False
    assert draft.state.complete  # an admission loads every step
    check_run_transition(draft.status, RunStatus.RUNNING)
    draft.status = RunStatus.RUNNING
    draft.run = RunChange(RunStatus.RUNNING, draft.remaining)
    roots = [
        draft.move(step, StepStatus.READY, ready_at=draft.now).name
        for step in sorted(draft.steps.values(), key=lambda s: s.name)
        if step.status is StepStatus.PENDING and step.waiting_on == 0
    ]
    draft.emit(ev.RUN_STARTED, None, queued=True)
    claim(roots)
    return True


@dataclass(frozen=True)
class QueueChanges:
    """What a transaction did to concurrency queues: the keys that may have room now (a run ended, or one
    entered the queue), the run that caused each (it carries what the admission starts), and the runs
    that entered the queue again (a retry: they go behind the runs waiting)."""

    keys: dict[str, str]
    requeued: list[str]


def queue_changes(states: Mapping[str, RunState], plans: Iterable[Plan]) -> QueueChanges | None:
    """The queue changes of these plans; None when no run with a concurrency key changed (the common case:
    a run of a workflow without concurrency pays this loop only)."""
    keys: dict[str, str] = {}
    requeued = []
    for done in plans:
        state = states.get(done.run_id)
        if state is None or state.concurrency_key is None or done.run is None:
            continue
        before, after = state.status, done.run.status
        if after is RunStatus.QUEUED and before.finished:
            requeued.append(done.run_id)
        if (before is RunStatus.RUNNING and after.finished) or after is RunStatus.QUEUED:
            keys.setdefault(state.concurrency_key, done.run_id)
    return QueueChanges(keys, requeued) if keys else None


def carry(done: Plan, admitted: Iterable[Plan]) -> Plan:
    """``done`` carrying what the admissions it caused did (their claims for its worker, their events), so
    that whoever applies its transition starts them; its run's own admission (a retry that started at
    once) gives it its status."""
    claims, events, status = list(done.claims), list(done.events), done.run_status
    for other in admitted:
        claims += other.claims
        events += other.events
        if other.run_id == done.run_id:
            status = other.run_status
    results = list(done.results)
    if results:  # on the last fact that did something: the one whose transition is surely applied
        at = max((i for i, r in enumerate(results) if not r.duplicate), default=len(results) - 1)
        was = results[at]
        more_events, more_claims = events[len(done.events) :], claims[len(done.claims) :]
        results[at] = FactResult(was.duplicate, status, [*was.events, *more_events], [*was.claims, *more_claims])
    return replace(done, claims=claims, events=events, run_status=status, results=results)
