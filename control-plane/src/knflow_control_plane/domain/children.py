"""Sub-workflow steps (``knflow.dev/v2``): a step that runs a deployed workflow as a child run. No I/O.

A sub-workflow step is claimed like an action's step (an attempt, a lease), but its claim starts a child
run instead of invoking a function (``service/children.py``); the transaction that creates the child also
records it on the step and drops the lease, so the step then runs without a worker until the child ends.
The child's end is the attempt's outcome (:func:`child_outcome`), recorded through the planner's usual
fencing: an outcome counts only while the step runs that attempt, so the parent advances once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from .model import Outcome, PlannedStep
from .transitions import Step

#: the ``kind`` of a sub-workflow step's ``wait`` (what its row keeps: the workflow and its version)
KIND: Final = "workflow"
#: how deep child runs may nest (a run is depth 0, its children 1...): a workflow that calls itself,
#: directly or through others, fails its step at this depth instead of starting runs for ever
MAX_DEPTH: Final = 10


def is_child(step: Step | PlannedStep) -> bool:
    """Whether ``step`` runs a child run (a sub-workflow step)."""
    return step.wait is not None and step.wait.get("kind") == KIND


def child_wait(name: str, version: str | None) -> dict[str, Any]:
    """What a sub-workflow step's row keeps: the workflow it runs and its version (None until the parent
    run starts and pins the deployed one, :func:`pin_versions`)."""
    return {"kind": KIND, "workflow": name, "version": version}


def unpinned(steps: Sequence[PlannedStep]) -> list[str]:
    """The workflows the sub-workflow steps of ``steps`` run at the version deployed when a run starts."""
    return sorted(
        {str(s.wait["workflow"]) for s in steps if s.wait is not None and is_child(s) and not s.wait["version"]}
    )


def pin_versions(steps: Sequence[PlannedStep], deployed: Mapping[str, str]) -> list[PlannedStep]:
    """``steps`` with each sub-workflow step's version set: the one it names, else ``deployed[workflow]``."""
    return [
        replace(step, wait={**step.wait, "version": deployed[step.wait["workflow"]]})
        if step.wait is not None and is_child(step) and not step.wait["version"]
        else step
        for step in steps
    ]


def child_outcome(
    child_run_id: str, workflow: str, status: str, result: Any, error: Mapping[str, Any] | None
) -> Outcome:
    """The outcome of a sub-workflow step whose child run ended: it succeeds with the child's result (a
    dict's keys are its outputs, any other value is output ``result``), or fails naming the child run."""
    if status == "succeeded":
        return Outcome.succeeded(result if isinstance(result, dict) else {"result": result})
    kind = "ChildRunCancelled" if status == "cancelled" else "ChildRunFailed"
    why = (error or {}).get("message") or status
    failed_step = (error or {}).get("step")
    where = f" at step {failed_step!r}" if failed_step else ""
    return Outcome.failed(
        {
            "type": kind,
            "message": f"child run {child_run_id} of workflow {workflow!r} {status}{where}: {why}",
            "code": (error or {}).get("code"),
            "retryable": False,
            "traceback": None,
            "child_run_id": child_run_id,
            # the child's own error, without its traceback (``knflow get CHILD`` shows it whole)
            "child_error": {k: v for k, v in error.items() if k != "traceback"} if error else None,
        }
    )


def raised_by_action(error: Mapping[str, Any]) -> bool:
    """Whether ``error`` is an action's ``ActionError``, or a child run's failure that one caused (at any
    depth): an HTTP trigger then replies with its ``code``, whichever run of the family raised it."""
    while error.get("type") == "ChildRunFailed" and isinstance(error.get("child_error"), Mapping):
        error = error["child_error"]
    return error.get("type") == "ActionError"


def not_started(workflow: str, reason: str, kind: str = "ChildRunNotStarted") -> Outcome:
    """The outcome of a sub-workflow step whose child run cannot start (the workflow is not deployed, its
    inputs do not check, runs nest too deep): a failure, not retried."""
    message = f"child run of workflow {workflow!r} not started: {reason}"
    return Outcome.failed({"type": kind, "message": message, "code": None, "retryable": False, "traceback": None})
