"""Checks of the dynamic-flow parts of a spec (``knflow.dev/v2``): map, ``when``, ``after``, sub-workflows,
event waits and concurrency keys. Each problem is ``(path, message)``, the path naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .bindings import upstream
from .conditions import ConditionError, parse, references
from .spec import ActionSpec, StepSpec, WorkflowSpec

Problems = list[tuple[str, str]]
#: the outputs of the steps that call no action (None: any name may come back)
SPECIAL_OUTPUTS: Mapping[str, list[str] | None] = {
    "sleep": [],
    "wait_for_event": ["event"],
    "approval": ["approved", "by", "comment"],
    "workflow": None,
}


def declared_outputs(step: StepSpec, catalogue: Mapping[str, ActionSpec]) -> list[str] | None:
    """Output names a step may have, or None when any name may come back (or its action is unknown)."""
    if step.map is not None:
        return ["result"]  # the items' results, one list
    if step.action is None:
        return SPECIAL_OUTPUTS[step.kind]
    action = catalogue.get(step.action)
    return action.declared_outputs if action is not None else None


def condition_steps(step: StepSpec) -> set[str]:
    """The steps a step's ``when`` reads (none when it does not parse: :func:`check_flow_step` says why)."""
    if step.when is None:
        return set()
    try:
        return {ref.step for ref in references(parse(step.when)) if ref.step is not None}
    except ConditionError:
        return set()


def extra_upstream(step: StepSpec) -> set[str]:
    """The steps a step waits for beyond its inputs: ``after``, its condition, its event match."""
    found = set(step.after or ()) | condition_steps(step)
    if step.wait_for_event is not None:
        for binding in step.wait_for_event.match.values():
            found.update(upstream(binding.model_dump(mode="json")))
    return found


def check_flow_step(step: StepSpec, spec: WorkflowSpec, steps: Mapping[str, StepSpec]) -> Problems:
    """The problems of one step's dynamic-flow fields."""
    where = f"steps.{step.name}"
    problems: Problems = []
    if step.when is not None:
        problems.extend(_check_condition(step.when, f"{where}.when", step.name, spec, steps))
    for name in step.after or ():
        if name not in steps:
            problems.append((f"{where}.after", f"unknown step {name!r}"))
        elif name == step.name:
            problems.append((f"{where}.after", "a step cannot wait for itself"))
    if step.map is not None:
        problems.extend(_check_map(step, spec))
    if step.wait_for_event is not None:
        for key, binding in step.wait_for_event.match.items():
            dumped = binding.model_dump(mode="json")
            problems.extend(
                (f"{where}.wait_for_event.match.{key}", f"unknown step {name!r}")
                for name in upstream(dumped)
                if name not in steps
            )
    return problems


def _check_condition(text: str, where: str, own: str, spec: WorkflowSpec, steps: Mapping[str, StepSpec]) -> Problems:
    try:
        expr = parse(text)
    except ConditionError as exc:
        return [(where, str(exc))]
    problems: Problems = []
    for ref in references(expr):
        if ref.step is None and ref.path[0] not in spec.inputs:
            problems.append((where, f"{ref}: unknown workflow input {ref.path[0]!r}"))
        elif ref.step == own:
            problems.append((where, f"{ref}: a step's condition cannot read its own output"))
        elif ref.step is not None and ref.step not in steps:
            problems.append((where, f"{ref}: unknown step {ref.step!r}"))
    return problems


def _check_map(step: StepSpec, spec: WorkflowSpec) -> Problems:
    assert step.map is not None
    where = f"steps.{step.name}.map.over"
    problems: Problems = []
    for name in step.map.over:
        binding = step.inputs.get(name)
        if binding is None:
            problems.append((where, f"input {name!r} is mapped but not given"))
            continue
        dumped: dict[str, Any] = binding.model_dump(mode="json")
        if "input" in dumped:
            declared = spec.inputs.get(dumped["input"])
            kind = declared.type.get("type") if declared is not None else None
            if kind not in (None, "array"):
                problems.append((where, f"input {name!r} is mapped over workflow input {dumped['input']!r}, a {kind}"))
        elif "step" not in dumped:
            problems.append((where, f"input {name!r} is mapped: bind it to a workflow input or a step output"))
    return problems


def check_concurrency(spec: WorkflowSpec) -> Problems:
    """A concurrency key names a workflow input."""
    if spec.concurrency is None or spec.concurrency.key is None:
        return []
    name = spec.concurrency.key.split(".")[1]
    if name not in spec.inputs:
        return [("concurrency.key", f"unknown workflow input {name!r}")]
    return []
