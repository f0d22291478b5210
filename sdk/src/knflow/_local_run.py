"""Running a whole workflow in this process, step by step (unit tests of a workflow need nothing else):
conditions, maps, ``first_of`` and sub-workflows included; timers, waits and approvals need a control plane."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import SpecError
from .bindings import resolve, skipped_read
from .conditions import ConditionError, holds, steps_read
from .validation import topological_order

if TYPE_CHECKING:
    from ._workflow import WorkflowDefinition
    from .spec import StepSpec


def run_here(definition: WorkflowDefinition, inputs: dict[str, Any]) -> Any:
    """The result of one run of ``definition`` with ``inputs``, every action called here.

    Raises:
        TypeError: a required input is missing.
        SpecError: the workflow has a step that only a control plane runs (sleep, event wait, approval).
        ConditionError: a condition cannot be evaluated.
    """
    spec = definition.spec
    values = {name: inputs.get(name, param.default) for name, param in spec.inputs.items()}
    missing = [n for n, p in spec.inputs.items() if p.required and n not in inputs]
    if missing:
        raise TypeError(f"workflow {definition.name} is missing inputs {missing}")
    outputs: dict[str, dict[str, Any]] = {}
    skipped: set[str] = set()
    for name in topological_order(spec):
        step = spec.step(name)
        if _skips(step, values, outputs, skipped):
            skipped.add(name)
            continue
        outputs[name] = _run_step(definition, step, values, outputs)
    if spec.result is None:
        return None
    return resolve(spec.result.model_dump(mode="json"), values, outputs, "result")


def _skips(step: StepSpec, values: dict[str, Any], outputs: dict[str, dict[str, Any]], skipped: set[str]) -> bool:
    """Whether a step does not run: it reads a step that did not run, or its condition is false (the same
    rule as the control plane's ``decide_release``)."""
    bindings = [b.model_dump(mode="json") for b in step.inputs.values()]
    if any(skipped_read(binding, skipped) is not None for binding in bindings):
        return True
    if step.when is None:
        return False
    return bool(steps_read(step.when) & skipped) or not holds(step.when, values, outputs)


def _run_step(
    definition: WorkflowDefinition, step: StepSpec, values: dict[str, Any], outputs: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    args = {
        k: resolve(b.model_dump(mode="json"), values, outputs, f"steps.{step.name}.inputs.{k}")
        for k, b in step.inputs.items()
    }
    if step.workflow is not None:
        child = definition.children[step.workflow.name]
        result = child(**args)
        return result if isinstance(result, dict) else {"result": result}
    if step.action is None:
        raise SpecError(f"a {step.kind} step runs on a control plane only (knflow dev)", path=f"steps.{step.name}")
    action = definition.actions[step.action]
    if step.map is None:
        result = action.fn(**action.validate_inputs(args))
        return result if isinstance(result, dict) else {"result": result}
    # a step that returned a list whole is bound as ``{"result": [...]}``: its list is mapped (as on a control plane)
    lists = {key: _whole_list(args[key]) for key in step.map.over}
    lengths = {len(v) if isinstance(v, list) else -1 for v in lists.values()}
    if -1 in lengths or len(lengths) != 1:
        raise ConditionError(f"steps.{step.name}: mapped inputs must be lists of one length")
    count = lengths.pop()
    results = []
    for index in range(count):
        item = {**args, **{key: value[index] for key, value in lists.items()}}
        results.append(action.fn(**action.validate_inputs(item)))
    return {"result": results}


def _whole_list(value: Any) -> Any:
    return value["result"] if isinstance(value, dict) and list(value) == ["result"] else value
