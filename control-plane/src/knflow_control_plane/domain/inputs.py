"""A run's inputs checked against its workflow's declared inputs: the rule every way of starting a run
shares (API, hooks, events, schedules), with no I/O."""

from __future__ import annotations

from typing import Any

from knflow import _types
from knflow.spec import WorkflowSpec

from ..errors import InvalidRequest
from .files import is_payload_ref, payload_keys


def check_inputs(spec: WorkflowSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    """Workflow inputs checked against the spec, defaults filled in.

    Raises:
        InvalidRequest: naming the first input that is unknown, missing or of the wrong type.
    """
    if not isinstance(inputs, dict):
        raise InvalidRequest("inputs must be a JSON object", field="inputs")
    for key in inputs:
        if key not in spec.inputs:
            raise InvalidRequest(
                f"unknown input {key!r}; {spec.name} takes {sorted(spec.inputs)}", field=f"inputs.{key}"
            )
    checked: dict[str, Any] = {}
    for name, param in spec.inputs.items():
        if name not in inputs:
            if param.required:
                raise InvalidRequest(f"missing required input {name!r}", field=f"inputs.{name}")
            checked[name] = param.default
            continue
        if is_payload_ref(inputs[name]):
            checked[name] = inputs[name]  # checked before it was offloaded (an HTTP trigger's large input)
            continue
        reason = _types.mismatch(param.type, inputs[name])
        if reason:
            raise InvalidRequest(f"input {name!r}: {reason}", field=f"inputs.{name}")
        checked[name] = inputs[name]
    return checked


def foreign_payload(inputs: dict[str, Any], run_id: str) -> str | None:
    """The first input holding a stored-value reference (``knflow.payload``) that knflow did not write for
    run ``run_id``, or None.

    Only knflow writes such references into a run's inputs: an HTTP trigger's intake moves a large input
    to ``payloads/{run id}/inputs/...`` before the run exists. One a client sent would have the value of
    any key read back to its steps and its run's page (another run's, another project's), so it is refused.
    """
    own = f"payloads/{run_id}/"
    for name, value in inputs.items():
        if any(not key.startswith(own) or ".." in key for key in payload_keys(value)):
            return name
    return None
