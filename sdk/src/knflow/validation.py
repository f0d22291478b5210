"""Checks of a workflow spec against the actions it calls: every problem, each with its path."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import _types
from ._errors import SpecError
from ._flow_checks import check_concurrency, check_flow_step, declared_outputs, extra_upstream
from .bindings import upstream, workflow_inputs_used
from .spec import ActionSpec, HttpTrigger, ScheduleTrigger, StepSpec, WorkflowSpec

Problems = list[tuple[str, str]]


def dependencies(spec: WorkflowSpec) -> dict[str, set[str]]:
    """For each step, the steps it reads from."""
    found = {
        step.name: {name for binding in step.inputs.values() for name in upstream(_dump(binding))}
        for step in spec.steps
    }
    for step in spec.steps:
        if step.action is None or step.when is not None or step.after is not None:  # v2 edges (rare)
            found[step.name] |= extra_upstream(step)
    return found


def _dump(binding: Any) -> dict[str, Any]:
    return binding.model_dump(mode="json", exclude_none=False)  # type: ignore[no-any-return]


def topological_order(spec: WorkflowSpec) -> list[str]:
    """Step names, each after all the steps it reads from (linear in steps and edges, no recursion:
    a chain of 100,000 steps is as fine as a wide one).

    Raises:
        SpecError: naming the steps of a cycle.
    """
    found = dependencies(spec)
    deps = {name: sorted(d for d in upstream_steps if d in found) for name, upstream_steps in found.items()}
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in (step.name for step in spec.steps):
        if state.get(root) == 2:
            continue
        path: list[str] = [root]  # the current path, and beside it where each step is in its deps
        nexts: list[int] = [0]
        state[root] = 1
        while path:
            name, i = path[-1], nexts[-1]
            if i == len(deps[name]):
                state[name] = 2
                order.append(name)
                path.pop()
                nexts.pop()
                continue
            nexts[-1] = i + 1
            dep = deps[name][i]
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep]
                raise SpecError(f"cycle: {' -> '.join(cycle)}", path=f"steps.{dep}")
            if state.get(dep) is None:
                state[dep] = 1
                path.append(dep)
                nexts.append(0)
    return order


def validate_workflow(spec: WorkflowSpec, actions: Mapping[str, ActionSpec] | None = None) -> None:
    """Check ``spec``: step names, actions, bindings, types, cycles and triggers.

    Args:
        spec: the workflow.
        actions: the actions it may call; defaults to those the spec carries.

    Raises:
        SpecError: listing every problem, each with its path (``steps.resize.inputs.width``).
    """
    catalogue = dict(spec.actions) if actions is None else {**spec.actions, **actions}
    problems: Problems = []
    counts = Counter(step.name for step in spec.steps)  # linear: a loop of list.count was quadratic
    for name in sorted(n for n, c in counts.items() if c > 1):
        problems.append((f"steps.{name}", "duplicate step name"))
    if not spec.steps:
        problems.append(("steps", "a workflow needs at least one step"))
    steps = {step.name: step for step in spec.steps}
    for step in spec.steps:
        problems.extend(_check_step(step, spec, steps, catalogue))
    if spec.result is not None:
        problems.extend(_check_binding(_dump(spec.result), "result", _Context(spec, steps, catalogue), None))
    problems.extend(_check_triggers(spec))
    problems.extend(check_concurrency(spec))
    if not problems:
        try:
            topological_order(spec)
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError.collect(problems)


def _check_step(
    step: StepSpec, spec: WorkflowSpec, steps: Mapping[str, StepSpec], catalogue: Mapping[str, ActionSpec]
) -> Problems:
    where = f"steps.{step.name}"
    v2 = step.action is None or step.when is not None or step.after is not None or step.map is not None
    problems = check_flow_step(step, spec, steps) if v2 else []
    if step.action is None:  # a sub-workflow's inputs are checked against the child where it is known
        context = _Context(spec, steps, catalogue)
        for name, binding in step.inputs.items():
            problems.extend(_check_binding(_dump(binding), f"{where}.inputs.{name}", context, None))
        return problems
    action = catalogue.get(step.action)
    if action is None:
        return [*problems, (f"{where}.action", f"unknown action {step.action!r}")]
    mapped = set(step.map.over) if step.map is not None else set()
    for name, param in action.inputs.items():
        if param.required and name not in step.inputs:
            problems.append((f"{where}.inputs.{name}", f"missing required input of action {action.name}"))
    for name, binding in step.inputs.items():
        declared = action.inputs.get(name)
        if declared is None and not action.var_keyword:
            problems.append((f"{where}.inputs.{name}", f"action {action.name} has no input {name!r}"))
        context = _Context(spec, steps, catalogue)
        expected = declared.type if declared is not None and name not in mapped else None  # mapped: its items are
        problems.extend(_check_binding(_dump(binding), f"{where}.inputs.{name}", context, expected))
    return problems


@dataclass(frozen=True)
class _Context:
    spec: WorkflowSpec
    steps: Mapping[str, StepSpec]
    catalogue: Mapping[str, ActionSpec]


def _check_binding(binding: dict[str, Any], where: str, context: _Context, expected: dict[str, Any] | None) -> Problems:
    spec, steps, catalogue = context.spec, context.steps, context.catalogue
    problems: Problems = []
    for name in workflow_inputs_used(binding):
        if name not in spec.inputs:
            problems.append((where, f"unknown workflow input {name!r}"))
        elif expected is not None and "input" in binding and not _types.compatible(spec.inputs[name].type, expected):
            problems.append(
                (
                    where,
                    f"workflow input {name!r} is {spec.inputs[name].type.get('type')}, "
                    f"the action expects {expected.get('type')}",
                )
            )
    for name in upstream(binding):
        if name not in steps:
            problems.append((where, f"unknown step {name!r}"))
    problems.extend(_check_output(binding, where, steps, catalogue))
    if expected is not None and "value" in binding:
        reason = _types.mismatch(expected, binding["value"])
        if reason:
            problems.append((where, f"wrong type: {reason}"))
    return problems


def _check_output(
    binding: dict[str, Any], where: str, steps: Mapping[str, StepSpec], catalogue: Mapping[str, ActionSpec]
) -> Problems:
    if "object" in binding:
        return [p for k, b in binding["object"].items() for p in _check_output(b, f"{where}.{k}", steps, catalogue)]
    if "array" in binding or "first_of" in binding:
        key = "array" if "array" in binding else "first_of"
        return [p for i, b in enumerate(binding[key]) for p in _check_output(b, f"{where}[{i}]", steps, catalogue)]
    if "step" not in binding or binding.get("output") is None or binding["step"] not in steps:
        return []
    declared = declared_outputs(steps[binding["step"]], catalogue)
    if declared is not None and binding["output"] not in declared:
        return [(where, f"unknown output {binding['output']!r} of step {binding['step']!r} (declared: {declared})")]
    return []


def _check_triggers(spec: WorkflowSpec) -> Problems:
    paths = Counter((t.method, t.path) for t in spec.triggers if isinstance(t, HttpTrigger))
    problems = [
        (f"triggers.http {m} {p}", "the same HTTP trigger is declared twice")
        for m, p in sorted(paths)
        if paths[(m, p)] > 1
    ]
    for index, trigger in enumerate(spec.triggers):
        if isinstance(trigger, ScheduleTrigger):  # known now: every tick would start no run
            problems.extend(_check_schedule_inputs(spec, trigger.inputs, f"triggers.{index}.inputs"))
    return problems


def _check_schedule_inputs(spec: WorkflowSpec, inputs: Mapping[str, Any], where: str) -> Problems:
    problems: Problems = [
        (f"{where}.{name}", f"unknown workflow input {name!r}") for name in inputs if name not in spec.inputs
    ]
    for name, param in spec.inputs.items():
        if name not in inputs:
            if param.required:
                problems.append((f"{where}.{name}", f"a schedule must give the required input {name!r}"))
            continue
        reason = _types.mismatch(param.type, inputs[name])
        if reason:
            problems.append((f"{where}.{name}", f"wrong type: {reason}"))
    return problems
