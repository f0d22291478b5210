"""Request and response bodies of the REST API (pydantic at the edge), and record-to-JSON views."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from knflow_eventing.strict_json import JsonRefused, check

from ..domain.records import AttemptView, RunView, StepView


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """Refuse what no JSON column can hold (NaN, Infinity, lone surrogates, deep nesting), naming where:
        Python's JSON parser reads them, and they broke the store or the reply later."""
        try:
            check(value)
        except JsonRefused as exc:
            where = ".".join(str(part) for part in exc.path)
            raise ValueError(f"{where + ': ' if where else ''}{exc.reason}") from None
        return value


class CodeIn(_Body):
    """Code uploaded with a workflow: file contents (base64) by relative path."""

    files: dict[str, str] = Field(default_factory=dict)


class WorkflowIn(_Body):
    """``POST /v1/workflows``."""

    spec: dict[str, Any]
    code: CodeIn | None = None


class ActionIn(_Body):
    """``POST /v1/actions``."""

    spec: dict[str, Any]
    code: CodeIn | None = None


class DeployIn(_Body):
    """``POST /v1/workflows/{name}/deploy``."""

    version: str | None = None


class RunIn(_Body):
    """``POST /v1/runs``."""

    workflow: str = Field(min_length=1)
    inputs: dict[str, Any] = Field(default_factory=dict)
    version: str | None = None


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
        "attempts": [attempt_json(a) for a in s.attempts],
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
    }
    if with_steps:
        body["steps"] = [step_json(s) for s in r.steps]
    return body
