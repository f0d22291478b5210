"""The workflow spec: the public contract between the SDK, the CLI, the API and the control plane.

A spec is what ``@workflow`` records a function into, and what a YAML file says directly; both round
trip through JSON and YAML unchanged. Bindings say where each step input comes from:

- ``{"input": "url"}``: a workflow input;
- ``{"value": 128}`` (or a bare scalar in YAML): a constant;
- ``{"step": "fetch", "output": "image"}``: an output of an upstream step (no ``output``: all of them);
- ``{"object": {...}}`` / ``{"array": [...]}``: a dict or list made of other bindings;
- ``{"first_of": [...]}``: the first of several bindings whose steps ran (``knflow.dev/v2``).

``knflow.dev/v2`` adds dynamic flows (map, ``when``, ``first_of``, sub-workflows, sleep, event waits,
approvals, concurrency, priorities); a ``knflow.dev/v1`` spec reads as before, with the same version.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, Union

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from ._errors import SpecError
from ._flow_specs import (
    FLOW_STEP_FIELDS,
    STEP_KINDS,
    ApprovalSpec,
    Concurrency,
    MapSpec,
    SleepSpec,
    SubWorkflowSpec,
    WaitSpec,
    flow_features,
)
from ._spec_base import Name, later
from ._spec_base import SpecModel as _Model
from ._trigger_specs import EventTrigger, HttpTrigger, ManualTrigger, ScheduleTrigger, SourceTrigger, Trigger

# The public front door of every spec model (the triggers live in ``_trigger_specs``, re-exported here).
__all__ = [
    "API_VERSION",
    "API_VERSION_FLOWS",
    "MAX_FIRST_OF",
    "ActionSpec",
    "ArrayBinding",
    "Binding",
    "EventTrigger",
    "FirstOfBinding",
    "HttpTrigger",
    "InputBinding",
    "ManualTrigger",
    "ObjectBinding",
    "ParamSpec",
    "ScheduleTrigger",
    "SourceTrigger",
    "StepBinding",
    "StepSpec",
    "Trigger",
    "ValueBinding",
    "WorkflowSpec",
    "dump_json",
    "dump_yaml",
    "load_spec",
    "parse_text",
    "problems_of",
]

API_VERSION = "knflow.dev/v1"
#: the spec version that adds dynamic flows; a spec using them must say it
API_VERSION_FLOWS = "knflow.dev/v2"
#: most alternatives of one ``first_of``
MAX_FIRST_OF = 16


class InputBinding(_Model):
    """A workflow input."""

    input: Name


class ValueBinding(_Model):
    """A constant."""

    value: Any


class StepBinding(_Model):
    """An output of an upstream step; ``output=None`` binds all of its outputs."""

    step: Name
    output: str | None = None


class ObjectBinding(_Model):
    """A dict whose values are bindings."""

    object: dict[str, Binding]


class ArrayBinding(_Model):
    """A list whose items are bindings."""

    array: list[Binding]


class FirstOfBinding(_Model):
    """The first of several bindings whose steps all ran (were not skipped): a result from either branch
    of a ``when``; a constant last is the default."""

    first_of: list[Binding] = Field(min_length=2, max_length=MAX_FIRST_OF)

    @field_validator("first_of", mode="before")
    @classmethod
    def _scalars_are_constants(cls, value: Any) -> Any:
        return [_shorthand(v) for v in value] if isinstance(value, list) else value


Binding = Union[InputBinding, StepBinding, ObjectBinding, ArrayBinding, FirstOfBinding, ValueBinding]  # noqa: UP007


def _shorthand(value: Any) -> Any:
    # A bare scalar in YAML is a constant: `width: 128` reads as `width: {value: 128}`.
    return value if isinstance(value, dict | list | BaseModel) else {"value": value}


class ParamSpec(_Model):
    """One input of an action or a workflow: its JSON Schema, and its default when optional."""

    type: dict[str, Any] = Field(default_factory=dict)
    required: bool = True
    default: Any = None


class ActionSpec(_Model):
    """One action version: where its code is, its signature and its options."""

    name: Name
    version: str = Field(pattern=r"^[a-z0-9]{1,40}$")
    entrypoint: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_<][\w.<>]*$")  # <locals>: in-process only
    inputs: dict[str, ParamSpec] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)
    var_keyword: bool = False
    is_async: bool = False
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _check_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        from ._options import make_options

        return make_options(where="options", **value).as_dict()

    @property
    def declared_outputs(self) -> list[str] | None:
        """Output names the action declares, or None when any name may come back."""
        outputs = self.options.get("outputs")
        return list(outputs) if outputs is not None else None


class StepSpec(_Model):
    """One node of the DAG: a call of an action with bound inputs (``knflow.dev/v1``), or, in
    ``knflow.dev/v2``, a mapped call, a sub-workflow, a durable sleep, an event wait or an approval,
    optionally run only ``when`` a condition holds and ``after`` other steps."""

    name: Name
    action: Name | None = later()
    inputs: dict[str, Binding] = Field(default_factory=dict)
    workflow: SubWorkflowSpec | None = later()
    sleep: SleepSpec | None = later()
    wait_for_event: WaitSpec | None = later()
    approval: ApprovalSpec | None = later()
    map: MapSpec | None = later()
    when: str | None = later(min_length=1)
    #: steps that must finish first although no input reads them (what a sleep or a wait holds back)
    after: list[Name] | None = later()

    @field_validator("inputs", mode="before")
    @classmethod
    def _scalars_are_constants(cls, value: Any) -> Any:
        return {k: _shorthand(v) for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _one_kind(self) -> StepSpec:
        others = (self.workflow, self.sleep, self.wait_for_event, self.approval)
        if self.action is not None and others == (None, None, None, None):
            return self  # an action step (a mapped one too): the common case, for every step of every spec
        given = [kind for kind in STEP_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise SpecError(f"a step has exactly one of {', '.join(STEP_KINDS)}; this one has {given or 'none'}")
        if self.map is not None and given != ["action"]:
            raise SpecError("only an action step can be mapped", path="map")
        if self.inputs and given[0] not in ("action", "workflow"):
            raise SpecError(f"a {given[0]} step takes no inputs", path="inputs")
        return self

    @property
    def kind(self) -> str:
        """``action``, ``workflow``, ``sleep``, ``wait_for_event`` or ``approval``."""
        return next(kind for kind in STEP_KINDS if getattr(self, kind) is not None)

    @property
    def flow_fields(self) -> list[str]:
        """The ``knflow.dev/v2`` fields this step uses."""
        return [name for name in FLOW_STEP_FIELDS if getattr(self, name) is not None]


class WorkflowSpec(_Model):
    """A named DAG of steps with its inputs, result, triggers and the actions it calls."""

    api_version: Literal["knflow.dev/v1", "knflow.dev/v2"] = "knflow.dev/v1"
    name: Name
    description: str = ""
    inputs: dict[str, ParamSpec] = Field(default_factory=dict)
    steps: list[StepSpec] = Field(default_factory=list)
    result: Binding | None = None
    triggers: list[Trigger] = Field(default_factory=list)
    actions: dict[str, ActionSpec] = Field(default_factory=dict)
    timeout: float | None = Field(default=None, gt=0, description="seconds a run may take in all")
    concurrency: Concurrency | None = later()

    @property
    def flow_features(self) -> list[tuple[str, str]]:
        """(path, feature) of every ``knflow.dev/v2`` feature the spec uses, in spec order."""
        return flow_features(self)

    @model_validator(mode="after")
    def _versioned(self) -> WorkflowSpec:
        used = flow_features(self) if self.api_version == API_VERSION else []
        for path, feature in used[:1]:
            raise SpecError(
                f"{feature} needs api_version: {API_VERSION_FLOWS} (this spec says {API_VERSION})", path=path
            )
        return self

    @field_validator("result", mode="before")
    @classmethod
    def _scalar_result(cls, value: Any) -> Any:
        return None if value is None else _shorthand(value)

    @property
    def version(self) -> str:
        """A stable hash of everything the spec says."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def step(self, name: str) -> StepSpec:
        """The step called ``name``.

        Raises:
            KeyError: when there is none.
        """
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)


ObjectBinding.model_rebuild()
ArrayBinding.model_rebuild()
FirstOfBinding.model_rebuild()
WaitSpec.model_rebuild(_types_namespace={"Binding": Binding})
StepSpec.model_rebuild()
WorkflowSpec.model_rebuild()


def problems_of(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """(path, message) pairs of a pydantic error, unwrapping the ``SpecError``s our validators raise."""
    problems: list[tuple[str, str]] = []
    for error in exc.errors():
        parts = [prefix, *(str(part) for part in error["loc"])]
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, SpecError):
            problems.extend((".".join(p for p in [*parts, path] if p), message) for path, message in cause.problems)
        else:
            problems.append((".".join(p for p in parts if p), error["msg"]))
    return problems


def _spec_error(exc: ValidationError) -> SpecError:
    return SpecError.collect(problems_of(exc))


def load_spec(data: dict[str, Any] | str | bytes) -> WorkflowSpec:
    """A spec from a dict, or from JSON or YAML text.

    Raises:
        SpecError: for any malformed input, naming each field that is wrong.
    """
    if isinstance(data, str | bytes):
        data = parse_text(data)
    if not isinstance(data, dict):
        raise SpecError(f"a workflow spec must be a mapping, got {type(data).__name__}")
    try:
        return WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        raise _spec_error(exc) from exc
    except (TypeError, ValueError, RecursionError) as exc:
        raise SpecError(str(exc) or type(exc).__name__) from exc


def parse_text(text: str | bytes) -> Any:
    """The data of a YAML (or JSON) document, before it is read as a spec.

    Raises:
        SpecError: the text is not YAML, or uses aliases (``*name``): a few lines of them expand to
            billions of values once the spec is read.
    """
    import yaml

    try:
        # YAML is a superset of JSON: one parser reads both; libyaml's when present (10x faster).
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML or JSON: {exc}") from exc
    except (ValueError, RecursionError, TypeError) as exc:
        raise SpecError(f"not valid YAML or JSON: {exc}") from exc
    _refuse_aliases(data)
    return data


def _refuse_aliases(data: Any) -> None:
    # An alias makes the loader share one list or dict between places: seen twice means an alias.
    seen: set[int] = set()
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict | list):
            if id(value) in seen:
                raise SpecError("YAML aliases (*name) are not allowed in a spec: write the value out")
            seen.add(id(value))
            stack.extend(value.values() if isinstance(value, dict) else value)


def dump_yaml(spec: WorkflowSpec) -> str:
    """The spec as YAML text."""
    import yaml

    return str(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))


def dump_json(spec: WorkflowSpec) -> str:
    """The spec as JSON text."""
    return spec.model_dump_json()
