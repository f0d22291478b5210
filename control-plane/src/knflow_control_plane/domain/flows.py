"""Which dynamic-flow features (``knflow.dev/v2``) this control plane runs. No I/O.

The SDK traces them all into the spec and the shared validation checks them; a feature the engine does
not run yet is refused at registration (and deploy) with a 422 naming each field that uses it, rather
than accepted and run wrongly. This is the one gate: the engine work takes each feature out of
:data:`NOT_RUN_YET` as it lands.
"""

from __future__ import annotations

from knflow import SpecError
from knflow.spec import StepSpec, WorkflowSpec

#: the features registration refuses, until the engine runs them (none: every one runs now)
NOT_RUN_YET: frozenset[str] = frozenset()


def not_run_yet(spec: WorkflowSpec, refused: frozenset[str] = NOT_RUN_YET) -> list[tuple[str, str]]:
    """(path, message) for each use in ``spec`` of a feature in ``refused``."""
    return [
        (path, f"not supported by this control plane yet: {feature}")
        for path, feature in spec.flow_features
        if feature in refused
    ]


def refuse_not_run_yet(spec: WorkflowSpec, refused: frozenset[str] = NOT_RUN_YET) -> None:
    """Refuse a spec that uses a feature the engine does not run yet.

    Raises:
        SpecError: naming every field that uses one (``steps.notify.when``, ``concurrency``...).
    """
    problems = not_run_yet(spec, refused)
    if problems:
        raise SpecError.collect(problems)


def child_input_problems(step: StepSpec, child: WorkflowSpec) -> list[tuple[str, str]]:
    """(path, message) for each input of a sub-workflow step the child does not take, and each required
    input of the child the step does not give."""
    where = f"steps.{step.name}.inputs"
    problems = [
        (f"{where}.{key}", f"workflow {child.name} has no input {key!r}")
        for key in step.inputs
        if key not in child.inputs
    ]
    problems.extend(
        (f"{where}.{key}", f"missing required input of workflow {child.name}")
        for key, param in child.inputs.items()
        if param.required and key not in step.inputs
    )
    return problems
