"""The spec parts of dynamic flows (``knflow.dev/v2``): map, sub-workflows, timers, waits, approvals and
concurrency. Each is a frozen model; the bounds here are the documented limits of a spec."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from ._spec_base import Name, SpecModel

if TYPE_CHECKING:
    from .spec import Binding, WorkflowSpec

#: most items a map may have in flight at once
MAX_PARALLEL = 1000
#: the default of ``max_parallel``
DEFAULT_PARALLEL = 16
#: the longest sleep, wait or approval (a year and a day)
MAX_WAIT_S = 366 * 86400.0
#: most fields an event wait may match on
MAX_MATCH_FIELDS = 32
#: the most concurrent runs a concurrency key may allow
MAX_CONCURRENCY_LIMIT = 100_000
#: what a step does, one field each: exactly one is set
STEP_KINDS = ("action", "workflow", "sleep", "wait_for_event", "approval")
#: the fields of a step that ``knflow.dev/v2`` added
FLOW_STEP_FIELDS = ("workflow", "sleep", "wait_for_event", "approval", "map", "when", "after")
_DOTTED = re.compile(r"^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$")
_KEY_PATH = re.compile(r"^inputs\.[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$")


class MapSpec(SpecModel):
    """A step run once per item of its mapped inputs' lists (equal lengths), results joined in order.

    Attributes:
        over: the inputs mapped element-wise; the others go whole to every item.
        max_parallel: items in flight at most.
        on_error: ``fail``: the first permanent failure fails the map; ``collect``: the list holds results
            and error records.
    """

    over: list[Name] = Field(min_length=1)
    max_parallel: int = Field(default=DEFAULT_PARALLEL, ge=1, le=MAX_PARALLEL)
    on_error: Literal["fail", "collect"] = "fail"

    @field_validator("over")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("an input is mapped twice")
        return value


class SubWorkflowSpec(SpecModel):
    """A step that runs a deployed workflow as a child run and binds its result.

    Attributes:
        name: the child workflow.
        version: its version, or None for the one deployed when the parent run starts.
    """

    name: Name
    version: str | None = Field(default=None, pattern=r"^[a-f0-9]{12}$")


class SleepSpec(SpecModel):
    """A durable timer: the step succeeds ``seconds`` after it is reached, holding no worker."""

    seconds: float = Field(gt=0, le=MAX_WAIT_S)


class WaitSpec(SpecModel):
    """A step that waits for a CloudEvent of ``type`` (and ``source``) whose data fields equal ``match``.

    Attributes:
        type: the event type.
        source: the event source, or None for any.
        match: dotted data paths and the bindings their values must equal (constants, inputs, outputs).
        timeout: seconds before the step fails with a timeout, or None for no limit.
    """

    type: str = Field(min_length=1, max_length=200)
    source: str | None = Field(default=None, min_length=1, max_length=200)
    match: dict[str, Binding] = Field(default_factory=dict, max_length=MAX_MATCH_FIELDS)
    timeout: float | None = Field(default=None, gt=0, le=MAX_WAIT_S)

    @field_validator("match", mode="before")
    @classmethod
    def _paths(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for key in value:
            if not isinstance(key, str) or not _DOTTED.match(key):
                raise ValueError(f"match keys are dotted data paths like 'order.id', got {key!r}")
        return {k: v if isinstance(v, dict | list) else {"value": v} for k, v in value.items()}


class ApprovalSpec(SpecModel):
    """A step that waits for a person to approve or reject (``POST .../approve|reject``, ``knflow approve``).

    Attributes:
        prompt: what the person is asked.
        timeout: seconds before the step fails with a timeout, or None for no limit.
    """

    prompt: str = Field(min_length=1, max_length=2000)
    timeout: float | None = Field(default=None, gt=0, le=MAX_WAIT_S)


class Concurrency(SpecModel):
    """How many runs of a workflow may be in progress at once, per key; the others queue, FIFO per key.

    Attributes:
        key: a dotted path into the inputs (``inputs.customer``), or None for one queue for all runs.
        limit: runs in progress at once per key.
    """

    key: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=1, ge=1, le=MAX_CONCURRENCY_LIMIT)

    @field_validator("key")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not _KEY_PATH.match(value):
            raise ValueError(f"a concurrency key is a path into the inputs like 'inputs.customer', got {value!r}")
        return value


def flow_features(spec: WorkflowSpec) -> list[tuple[str, str]]:
    """(path, feature) of every ``knflow.dev/v2`` feature the spec uses, in spec order."""
    found: list[tuple[str, str]] = []
    if spec.concurrency is not None:
        found.append(("concurrency", "concurrency"))
    from .spec import InputBinding, StepBinding, ValueBinding

    plain = (InputBinding, StepBinding, ValueBinding)
    for step in spec.steps:  # every spec read passes here (10,000 steps): attribute reads, no calls for v1
        if step.action is None or step.map is not None or step.when is not None or step.after is not None:
            found.extend((f"steps.{step.name}.{field}", field) for field in step.flow_fields)
        for key, binding in step.inputs.items():
            if type(binding) not in plain and _has_first_of(binding):
                found.append((f"steps.{step.name}.inputs.{key}", "first_of"))
    found.extend(
        (f"actions.{name}.options.max_concurrency", "max_concurrency")
        for name, action in spec.actions.items()
        if action.options.get("max_concurrency") is not None
    )
    if spec.result is not None and _has_first_of(spec.result):
        found.append(("result", "first_of"))
    found.extend(
        (f"triggers.{index}.priority", "priority")
        for index, trigger in enumerate(spec.triggers)
        if getattr(trigger, "priority", None) is not None
    )
    return found


def _has_first_of(binding: Any) -> bool:
    from .spec import ArrayBinding, FirstOfBinding, ObjectBinding  # spec.py imports this module

    if isinstance(binding, FirstOfBinding):
        return True
    if isinstance(binding, ObjectBinding):
        return any(_has_first_of(item) for item in binding.object.values())
    return isinstance(binding, ArrayBinding) and any(_has_first_of(item) for item in binding.array)
