"""Concurrency queues and throttled steps in memory, the twin of ``adapters/sqlalchemy/concurrency.py`` and
``throttles.py`` over the in-memory runs (``runs.py``): one event loop runs each transition to its end, so
nothing is locked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...domain.concurrency import QueuedRun, key_label, starts_now
from ...domain.model import RunStatus, StepStatus
from ...domain.records import NewRun, QueuePlace
from ...domain.throttles import Throttled
from ...domain.transitions import Step

Rows = Mapping[str, dict[str, Any]]
QUEUED, RUNNING = RunStatus.QUEUED.value, RunStatus.RUNNING.value


def _order(run: Mapping[str, Any]) -> tuple[int, float, str]:
    """A queued run's place in its queue: priority first (higher first), then arrival."""
    return -(run["priority"] or 0), run["queued_at"] or 0.0, run["id"]


def queue_of(runs: Rows, key: str, bound: int) -> tuple[int, list[QueuedRun]]:
    """The key's runs in progress, and the first ``bound`` of its queue in order."""
    mine = [run for run in runs.values() if run.get("concurrency_key") == key]
    running = sum(1 for run in mine if run["status"] == RUNNING)
    queue = sorted((run for run in mine if run["status"] == QUEUED), key=_order)[:bound]
    return running, [QueuedRun(run["id"], run["concurrency_limit"] or 1) for run in queue]


def queued_at_creation(runs: Rows, new: NewRun) -> bool:
    """Whether a new keyed run waits in its queue (no room, or others waiting)."""
    assert new.concurrency is not None
    running, queue = queue_of(runs, new.concurrency.key, 1)
    return not starts_now(running, len(queue), new.concurrency.limit)


def columns(new: NewRun, now: float) -> dict[str, Any]:
    """A new run's concurrency columns (all None for a run without concurrency)."""
    keyed = new.concurrency
    if keyed is None:
        return dict.fromkeys(("concurrency_key", "concurrency_limit", "priority", "queued_at", "run_timeout"))
    return {
        "concurrency_key": keyed.key,
        "concurrency_limit": keyed.limit,
        "priority": keyed.priority,
        "queued_at": now,
        "run_timeout": new.timeout,
    }


def admitted(runs: Rows, run_ids: Sequence[str], now: float) -> None:
    """Runs that started from the queue: their deadline is their timeout from now."""
    for run_id in run_ids:
        run = runs[run_id]
        if run["run_timeout"]:
            run["deadline"] = now + run["run_timeout"]


def requeue(runs: Rows, run_ids: Sequence[str], now: float) -> None:
    """Runs retried into their queue: they arrive now, with no deadline until they start."""
    for run_id in run_ids:
        runs[run_id].update(queued_at=now, deadline=None)


def waiting_keys(runs: Rows) -> list[str]:
    """The keys with runs in their queue."""
    return sorted({run["concurrency_key"] for run in runs.values() if run["status"] == QUEUED})


def queue_place(runs: Rows, run: Mapping[str, Any]) -> QueuePlace | None:
    """Where a queued run waits; None for any other."""
    if run["status"] != QUEUED or run.get("concurrency_key") is None:
        return None
    key, mine = run["concurrency_key"], _order(run)
    ahead = sum(
        1 for r in runs.values() if r.get("concurrency_key") == key and r["status"] == QUEUED and _order(r) < mine
    )
    return QueuePlace(key_label(key), ahead + 1)


def throttled_actions(runs: Rows, steps: Mapping[str, Mapping[str, Step]]) -> list[tuple[str, str]]:
    """The (project, action) pairs with throttled steps."""
    return sorted(
        {
            (runs[run_id]["project"], step.action)
            for run_id, of_run in steps.items()
            for step in of_run.values()
            if step.status is StepStatus.THROTTLED
        }
    )


def throttle_of(
    runs: Rows, steps: Mapping[str, Mapping[str, Step]], project: str, action: str, bound: int
) -> tuple[int, list[Throttled]]:
    """The action's steps running, and the first ``bound`` throttled ones in order."""
    mine = [
        (run_id, step)
        for run_id, of_run in steps.items()
        if runs[run_id]["project"] == project
        for step in of_run.values()
        if step.action == action
    ]
    running = sum(1 for _, step in mine if step.status is StepStatus.RUNNING)
    waiting = sorted(
        ((step.ready_at or 0.0, run_id, step.name, step.policy.max_concurrency or 1) for run_id, step in mine
         if step.status is StepStatus.THROTTLED)
    )[:bound]  # fmt: skip
    return running, [Throttled(run_id, name, limit) for _, run_id, name, limit in waiting]
