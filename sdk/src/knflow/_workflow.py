"""``@workflow``: a function recorded once into a DAG spec of steps."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, overload

from pydantic import ValidationError

from . import _types
from ._action import ActionDefinition
from ._durations import parse_duration
from ._errors import SpecError
from ._flow_specs import Concurrency
from ._recording import InputRef, recording, to_binding
from .spec import (
    API_VERSION,
    API_VERSION_FLOWS,
    ParamSpec,
    Trigger,
    WorkflowSpec,
    load_spec,
)

if TYPE_CHECKING:
    from ._source import TriggerDefinition
from .validation import validate_workflow


class WorkflowDefinition:
    """What ``@workflow`` turns a function into: its spec and the actions it calls.

    Calling it runs the whole DAG in this process, step by step: handy in unit tests.

    Attributes:
        fn: the decorated function.
        spec: the recorded, validated workflow spec.
        actions: the actions its steps call, by name.
    """

    def __init__(self, fn: Callable[..., Any], spec: WorkflowSpec, actions: dict[str, ActionDefinition[Any, Any]]):
        self.fn = fn
        self.spec = spec
        self.actions = actions
        self.children: dict[str, WorkflowDefinition] = {}  # the workflows its steps call, by name
        self.name = spec.name
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __call__(self, **inputs: Any) -> Any:
        from ._recording import current_recording

        recording = current_recording()
        if recording is not None:  # called inside another workflow: a step that starts a child run
            from ._flows import sub_workflow

            when = inputs.pop("when", None) if "when" not in self.spec.inputs else None
            return sub_workflow(recording, self, None, inputs, None, when)
        return self._run_here(inputs)

    def named(self, step_name: str, *, version: str | None = None, when: Any = None) -> Callable[..., Any]:
        """Inside another workflow: call this one as a step called ``step_name``, on ``version`` (the
        one deployed when the parent run starts when None), run only ``when`` a condition holds."""

        def call(**inputs: Any) -> Any:
            from ._flows import sub_workflow
            from ._recording import current_recording

            recording = current_recording()
            if recording is None:
                raise SpecError("named() is for steps inside a @workflow function", path=step_name)
            return sub_workflow(recording, self, step_name, inputs, version, when)

        return call

    def _run_here(self, inputs: dict[str, Any]) -> Any:
        from ._local_run import run_here

        return run_here(self, inputs)

    def __repr__(self) -> str:
        return f"<workflow {self.name} ({len(self.spec.steps)} steps)>"


def _workflow_inputs(fn: Callable[..., Any], name: str) -> dict[str, ParamSpec]:
    inputs: dict[str, ParamSpec] = {}
    for param in inspect.signature(fn, eval_str=True).parameters.values():
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise SpecError(f"parameter {param.name!r} must be a plain named parameter", path=f"workflow {name}")
        annotation = _types.empty() if param.annotation is param.empty else param.annotation
        required = param.default is param.empty
        inputs[param.name] = ParamSpec(
            type=_types.schema_of(annotation), required=required, default=None if required else param.default
        )
    return inputs


def record_workflow(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    triggers: Sequence[Trigger | TriggerDefinition] = (),
    timeout: str | float | None = None,
    concurrency: Concurrency | None = None,
) -> WorkflowDefinition:
    """Recording ``fn`` once into a validated workflow (``knflow.dev/v2`` when it uses dynamic flows).

    Raises:
        SpecError: listing every problem found.
    """
    workflow_name = name or fn.__name__
    inputs = _workflow_inputs(fn, workflow_name)
    with recording(workflow_name) as recorded:
        returned = fn(**{key: InputRef(key) for key in inputs})
    result = None if returned is None else to_binding(returned, "result")
    try:
        spec = load_spec(
            {
                "name": workflow_name,
                "description": (description or inspect.getdoc(fn) or "").strip(),
                "inputs": {k: v.model_dump() for k, v in inputs.items()},
                "steps": recorded.steps,
                "result": result,
                "triggers": [_trigger_spec(t).model_dump() for t in triggers],
                "actions": {n: a.spec.model_dump() for n, a in recorded.actions.items()},
                "timeout": None if timeout is None else parse_duration(timeout, field="timeout"),
                "concurrency": concurrency,
                "api_version": API_VERSION_FLOWS,
            }
        )
    except ValidationError as exc:  # pragma: no cover - load_spec translates these
        raise SpecError(str(exc)) from exc
    if not spec.flow_features:  # a spec without dynamic flows stays v1: its form and version as before
        spec = load_spec({**spec.model_dump(mode="json"), "api_version": API_VERSION})
    validate_workflow(spec)
    definition = WorkflowDefinition(fn, spec, dict(recorded.actions))
    definition.children.update(recorded.children)
    return definition


@overload
def workflow(fn: Callable[..., Any], /) -> WorkflowDefinition: ...


@overload
def workflow(
    *,
    name: str | None = None,
    description: str | None = None,
    triggers: Sequence[Trigger | TriggerDefinition] = (),
    timeout: str | float | None = None,
    concurrency: Concurrency | None = None,
) -> Callable[[Callable[..., Any]], WorkflowDefinition]: ...


def workflow(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    triggers: Sequence[Trigger | TriggerDefinition] = (),
    timeout: str | float | None = None,
    concurrency: Concurrency | None = None,
) -> Any:
    """Make a function a workflow; bare (``@workflow``) or with options (``@workflow(triggers=[...])``).

    The function runs once, at decoration time, with references for its inputs: each action it
    calls becomes a step. Its return value (references, constants, dicts and lists of them) is the
    workflow's result. ``timeout`` (``"1h"``, seconds) bounds a whole run: past it the run fails and
    its running attempts are abandoned. ``concurrency`` (``Concurrency(key="inputs.customer", limit=1)``)
    bounds the runs in progress at once per key; the others queue in order.

    Raises:
        SpecError: when the recorded DAG is invalid (cycles, unknown outputs, wrong types...).
    """

    def decorate(function: Callable[..., Any]) -> WorkflowDefinition:
        return record_workflow(
            function, name=name, description=description, triggers=triggers, timeout=timeout, concurrency=concurrency
        )

    return decorate(fn) if fn is not None else decorate


def _trigger_spec(trigger: Trigger | TriggerDefinition) -> Trigger:
    """A trigger as a spec model: a ``@trigger`` listed as is matches every event it yields."""
    from ._source import TriggerDefinition

    return trigger.matching() if isinstance(trigger, TriggerDefinition) else trigger
