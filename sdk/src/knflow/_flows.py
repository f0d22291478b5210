"""Dynamic flows inside a ``@workflow`` function: ``first_of``, ``unmapped``, ``sleep``, ``wait_for_event``
and ``approval``. Each is recorded into the spec (``knflow.dev/v2``), so the DAG is known before a run."""

from __future__ import annotations

from typing import Any

from ._durations import parse_duration
from ._errors import SpecError
from ._recording import FirstOf, Recording, StepRef, Unmapped, current_recording, to_binding
from .spec import ObjectBinding

#: what a wait step's outputs are: the CloudEvent that ended it
WAIT_OUTPUTS = ["event"]
#: what an approval step's outputs are: the decision, who made it and why
APPROVAL_OUTPUTS = ["approved", "by", "comment"]


def unmapped(value: Any) -> Unmapped:
    """In ``action.map(...)``: pass ``value`` (a list or any reference) whole to every item."""
    return Unmapped(value)


def first_of(*options: Any) -> FirstOf:
    """The first of ``options`` whose steps ran (were not skipped by ``when``): a result from either
    branch. A constant last is the default when no branch ran.

    Raises:
        SpecError: with fewer than two options.
    """
    if len(options) < 2:
        raise SpecError("first_of() takes two options or more")
    return FirstOf(options)


def _recording_of(what: str) -> Recording:
    recording = current_recording()
    if recording is None:
        raise SpecError(f"{what}() is for steps inside a @workflow function", path=what)
    return recording


def _timeout(value: str | float | None, path: str) -> float | None:
    return None if value is None else parse_duration(value, field=path)


def sleep(duration: str | float, *, name: str | None = None, when: Any = None) -> None:
    """A durable timer: the steps recorded after it start ``duration`` (``"10m"``, seconds) after the steps
    recorded before it finished. No process or worker is held while it waits.

    Raises:
        SpecError: outside a workflow, or for a duration that is not one.
    """
    recording = _recording_of("sleep")
    seconds = parse_duration(duration, field=f"steps.{name or 'sleep'}.sleep.seconds")
    recording.add_special("sleep", "sleep", name, {"seconds": seconds, "when": when}, barrier=True)


def wait_for_event(
    type: str,  # noqa: A002 (the CloudEvents attribute name)
    *,
    source: str | None = None,
    match: dict[str, Any] | None = None,
    timeout: str | float | None = None,
    name: str | None = None,
    when: Any = None,
) -> StepRef:
    """Wait for a CloudEvent of ``type`` (and ``source``) whose data fields (dotted paths) equal
    ``match`` (constants, inputs or step outputs); the steps recorded after it wait for it. Its output
    ``event`` is the event (``id``, ``type``, ``source``, ``subject``, ``data``); past ``timeout`` the
    step fails.

    Raises:
        SpecError: outside a workflow, or for invalid arguments.
    """
    recording = _recording_of("wait_for_event")
    step = name or "wait"
    body: dict[str, Any] = {
        "type": type,
        "match": {
            key: to_binding(value, f"steps.{step}.wait_for_event.match.{key}") for key, value in (match or {}).items()
        },
        "when": when,
    }
    if source is not None:
        body["source"] = source
    if timeout is not None:
        body["timeout"] = _timeout(timeout, f"steps.{step}.wait_for_event.timeout")
    recorded = recording.add_special("wait_for_event", "wait", name, body, barrier=True)
    return StepRef(recorded, None, WAIT_OUTPUTS)


def approval(prompt: str, *, timeout: str | float | None = None, name: str | None = None, when: Any = None) -> StepRef:
    """Wait for a person to approve or reject (``knflow approve RUN STEP``); the steps recorded after it
    wait for it. Its outputs: ``approved`` (a boolean, for ``when=``), ``by`` and ``comment``; past
    ``timeout`` the step fails.

    Raises:
        SpecError: outside a workflow, or for invalid arguments.
    """
    recording = _recording_of("approval")
    body: dict[str, Any] = {"prompt": prompt, "when": when}
    if timeout is not None:
        body["timeout"] = _timeout(timeout, f"steps.{name or 'approval'}.approval.timeout")
    recorded = recording.add_special("approval", "approval", name, body, barrier=True)
    return StepRef(recorded, None, APPROVAL_OUTPUTS)


def sub_workflow(
    recording: Recording, child: Any, name: str | None, inputs: dict[str, Any], version: str | None, when: Any
) -> StepRef:
    """Record a call of the workflow ``child`` (a ``WorkflowDefinition``) as a step that starts a child run.

    Raises:
        SpecError: for an input the child does not take, or a required one missing.
    """
    step = name or recording.next_name(child.name)
    unknown = sorted(set(inputs) - set(child.spec.inputs))
    if unknown:
        raise SpecError(f"workflow {child.name} has no input {unknown[0]!r}", path=f"steps.{step}.inputs.{unknown[0]}")
    missing = [key for key, param in child.spec.inputs.items() if param.required and key not in inputs]
    if missing:
        raise SpecError(f"missing required input of workflow {child.name}", path=f"steps.{step}.inputs.{missing[0]}")
    bindings = {key: to_binding(value, f"steps.{step}.inputs.{key}") for key, value in inputs.items()}
    body: dict[str, Any] = {"name": child.name, "inputs": bindings, "when": when}
    if version is not None:
        body["version"] = version
    recording.add_special("workflow", child.name, step, body, barrier=False)
    recording.children[child.name] = child
    result = child.spec.result
    declared = sorted(result.object) if isinstance(result, ObjectBinding) else None
    return StepRef(step, None, declared)
