"""Record-to-JSON views of the API (the bodies themselves are the SDK's ``knflow.rest`` models)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from ..domain.map_views import ItemView
from ..domain.records import AttemptView, RunView, StepView


def iso(epoch: float | None) -> str | None:
    """Epoch seconds as RFC 3339 UTC text."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _duration(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round((end - start) * 1000, 3)


def attempt_json(a: AttemptView) -> dict[str, Any]:
    """An attempt as the API shows it."""
    return {
        "id": a.attempt_id,
        "number": a.number,
        "status": a.status,
        "inputs": a.inputs,
        "outputs": a.outputs,
        "error": a.error,
        "logs": a.logs,
        "worker": a.worker,
        "started_at": iso(a.started_at),
        "finished_at": iso(a.finished_at),
        "duration_ms": _duration(a.started_at, a.finished_at),
    }


def step_json(s: StepView) -> dict[str, Any]:
    """A step as the API shows it."""
    return {
        "name": s.name,
        "action": s.action,
        "version": s.version,
        "status": s.status,
        "outputs": s.outputs,
        "error": s.error,
        "started_at": iso(s.started_at),
        "finished_at": iso(s.finished_at),
        "duration_ms": _duration(s.started_at, s.finished_at),
        "next_attempt_at": iso(s.next_attempt_at),
        "wait": s.wait,
        "wake_at": iso(s.wake_at),
        "child_run_id": s.child_run_id,
        "map": asdict(s.map) if s.map is not None else None,
        "attempts": [attempt_json(a) for a in s.attempts],
    }


def item_json(item: ItemView) -> dict[str, Any]:
    """An item of a map step as the API shows it."""
    return {
        "index": item.index,
        "status": item.status,
        "attempts": item.attempts,
        "started_at": iso(item.started_at),
        "finished_at": iso(item.finished_at),
        "output": item.output,
        "error": item.error,
    }


def run_json(r: RunView, *, with_steps: bool = True) -> dict[str, Any]:
    """A run as the API shows it."""
    body = {
        "id": r.run_id,
        "project": r.project,
        "workflow": r.workflow,
        "workflow_version": r.workflow_version,
        "status": r.status,
        "inputs": r.inputs,
        "result": r.result,
        "error": r.error,
        "trigger": r.trigger,
        "trace_id": r.trace_id,
        "created_at": iso(r.created_at),
        "finished_at": iso(r.finished_at),
        "duration_ms": _duration(r.created_at, r.finished_at),
        "waiting": r.waiting,
        "parent_run_id": r.parent_run_id,
        "parent_step": r.parent_step,
        "queue": {"key": r.queue.key, "position": r.queue.position} if r.queue is not None else None,
    }
    if with_steps:
        body["steps"] = [step_json(s) for s in r.steps]
    return body
