"""Recording a ``@workflow`` function: action calls become steps, values become bindings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NoReturn

from ._errors import SpecError
from ._file import File

if TYPE_CHECKING:
    from ._action import ActionDefinition

_current: ContextVar[Recording | None] = ContextVar("knflow_recording", default=None)
_JSON_SCALARS = (str, int, float, bool, type(None))


def current_recording() -> Recording | None:
    """The recording in progress in this context, if a ``@workflow`` function is being recorded."""
    return _current.get()


class _Ref:
    """A placeholder for a value that exists only when the workflow runs."""

    __slots__ = ()

    def _misuse(self, *_: Any, **__: Any) -> NoReturn:
        raise SpecError(
            f"{self!r} is a reference to a value known only at run time: pass it to an action, "
            "and compute with it inside the action"
        )

    __bool__ = __iter__ = __len__ = __add__ = __radd__ = __sub__ = __mul__ = __truediv__ = _misuse
    __lt__ = __le__ = __gt__ = __ge__ = __contains__ = __int__ = __float__ = __index__ = _misuse


class InputRef(_Ref):
    """A workflow input, while recording."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<workflow input {self.name}>"


class OutputRef(_Ref):
    """One output of a step, while recording."""

    __slots__ = ("output", "step")

    def __init__(self, step: str, output: str | None):
        self.step, self.output = step, output

    def __repr__(self) -> str:
        return f"<output {self.output} of step {self.step}>"


class StepRef(OutputRef):
    """The outputs of a step, while recording; ``ref["name"]`` is one output."""

    __slots__ = ("declared", "scalar")

    def __init__(self, step: str, output: str | None, declared: list[str] | None, *, scalar: bool = False):
        super().__init__(step, output)
        self.declared = declared
        # An action annotated to return a non-dict value: its one output is "result".
        self.scalar = scalar

    def __getitem__(self, output: str) -> OutputRef:
        if not isinstance(output, str):
            raise SpecError(f"step outputs are named by strings, got {output!r}", path=f"steps.{self.step}")
        if self.declared is not None and output not in self.declared:
            raise SpecError(
                f"unknown output {output!r}; the action declares {self.declared}", path=f"steps.{self.step}"
            )
        return OutputRef(self.step, output)

    def __repr__(self) -> str:
        return f"<outputs of step {self.step}>"


class MapRef(OutputRef):
    """The joined results of a mapped step, while recording: one list, bound whole."""

    __slots__ = ()

    def __init__(self, step: str):
        super().__init__(step, "result")

    def __getitem__(self, output: str) -> NoReturn:
        raise SpecError(
            "a map's result is one list (an item per input, in order): pass it whole to the next action",
            path=f"steps.{self.step}",
        )

    def __repr__(self) -> str:
        return f"<results of mapped step {self.step}>"


class Recording:
    """The steps recorded while a workflow function runs once.

    A sleep, an event wait or an approval is a barrier: it waits for the steps recorded before it, and the
    steps recorded after it wait for it (code order is time order, as it reads).
    """

    def __init__(self, workflow: str):
        self.workflow = workflow
        self.steps: list[dict[str, Any]] = []
        self.actions: dict[str, ActionDefinition[Any, Any]] = {}
        self.children: dict[str, Any] = {}  # the workflows called as steps, by name (local runs call them)
        self.barrier: str | None = None
        self.since_barrier: list[str] = []

    def add_step(
        self,
        action: ActionDefinition[Any, Any],
        name: str | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        when: Any = None,
    ) -> StepRef:
        """Record one call of ``action`` and return a reference to its outputs."""
        step = self._action_step(action, name)
        arguments = self._arguments(action, step, args, kwargs)
        inputs = {key: to_binding(value, f"steps.{step}.inputs.{key}") for key, value in arguments.items()}
        self.record({"name": step, "action": action.name, "inputs": inputs}, when)
        returns = action.spec.output.get("type")
        return StepRef(step, None, action.spec.declared_outputs, scalar=returns not in (None, "object"))

    def add_map(
        self, action: ActionDefinition[Any, Any], name: str | None, kwargs: dict[str, Any], options: dict[str, Any]
    ) -> MapRef:
        """Record a mapped call of ``action``: references are mapped over, constants and ``unmapped``
        values go whole to every item."""
        step = self._action_step(action, name)
        arguments = self._arguments(action, step, (), kwargs)
        over = [key for key, value in arguments.items() if isinstance(value, InputRef | OutputRef)]
        if not over:
            raise SpecError(
                "map() needs an argument bound to a run-time list (a workflow input or a step output)",
                path=f"steps.{step}",
            )
        inputs = {
            key: to_binding(value.value if isinstance(value, Unmapped) else value, f"steps.{step}.inputs.{key}")
            for key, value in arguments.items()
        }
        when = options.pop("when", None)
        self.record({"name": step, "action": action.name, "inputs": inputs, "map": {"over": over, **options}}, when)
        return MapRef(step)

    def add_special(self, kind: str, base: str, name: str | None, body: dict[str, Any], *, barrier: bool) -> str:
        """Record a step that calls no action (``workflow``, ``sleep``, ``wait_for_event``, ``approval``)."""
        step = name or self.next_name(base)
        inputs = body.pop("inputs", None)
        when = body.pop("when", None)
        record: dict[str, Any] = {"name": step, kind: body}
        if inputs is not None:
            record["inputs"] = inputs
        before = list(self.since_barrier) or ([self.barrier] if self.barrier else [])
        if barrier and before:  # a barrier first in the workflow waits for nothing
            record["after"] = before
        self.record(record, when)
        if barrier:
            self.barrier, self.since_barrier = step, []
        return step

    def record(self, step: dict[str, Any], when: Any) -> None:
        """Add a recorded step, with its condition and what it must wait for."""
        if when is not None:
            step["when"] = condition_text(when, f"steps.{step['name']}.when")
        if self.barrier is not None and "after" not in step:
            step["after"] = [self.barrier]
        self.steps.append(step)
        self.since_barrier.append(step["name"])

    def _action_step(self, action: ActionDefinition[Any, Any], name: str | None) -> str:
        known = self.actions.setdefault(action.name, action)
        if known is not action:
            raise SpecError(f"two different actions are called {action.name!r}", path=f"workflow {self.workflow}")
        return name or self.next_name(action.name)

    def next_name(self, base: str) -> str:
        """``base``, or ``base_2``, ``base_3``... when the name is taken."""
        taken = {s["name"] for s in self.steps}
        if base not in taken:
            return base
        index = 2
        while f"{base}_{index}" in taken:
            index += 1
        return f"{base}_{index}"

    @staticmethod
    def _arguments(
        action: ActionDefinition[Any, Any], step: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        names = list(action.params)
        if len(args) > len(names):
            raise SpecError(f"{action.name} takes {len(names)} inputs, {len(args)} given", path=f"steps.{step}")
        arguments = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key in arguments:
                raise SpecError("input given twice", path=f"steps.{step}.inputs.{key}")
            arguments[key] = value
        return arguments


class Unmapped:
    """A value a mapped step gets whole on every item: ``resize.map(image=images, size=unmapped(size))``."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


class FirstOf:
    """The first of several values whose steps ran: a result from either branch of a ``when``."""

    __slots__ = ("options",)

    def __init__(self, options: tuple[Any, ...]):
        self.options = options


_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def condition_text(value: Any, path: str) -> str:
    """A ``when=`` value as the condition text the spec holds: a string is checked as it is, a reference
    to a boolean output or input becomes ``steps.NAME.output.FIELD`` or ``inputs.NAME``.

    Raises:
        SpecError: naming ``path``, for a condition that does not parse or a value that is not one.
    """
    from .conditions import ConditionError, parse

    if isinstance(value, InputRef):
        return f"inputs.{value.name}"
    if isinstance(value, StepRef) and value.scalar:
        return f"steps.{value.step}.output.result"
    if isinstance(value, OutputRef) and not isinstance(value, MapRef):
        if value.output is None:
            raise SpecError("a condition reads one output: give ref['name'], not all of a step's outputs", path=path)
        if not _FIELD.match(value.output):
            raise SpecError(f"output {value.output!r} cannot be named in a condition: give a string", path=path)
        return f"steps.{value.step}.output.{value.output}"
    if not isinstance(value, str):
        raise SpecError(
            f"when= takes a boolean output, an input or a condition string, got {type(value).__name__}", path=path
        )
    try:
        parse(value)
    except ConditionError as exc:
        raise SpecError(str(exc), path=path) from exc
    return value


def to_binding(value: Any, path: str) -> dict[str, Any]:
    """The binding (spec form) for a value passed to a step or returned by a workflow."""
    if isinstance(value, FirstOf):
        return {"first_of": [to_binding(item, f"{path}.first_of[{i}]") for i, item in enumerate(value.options)]}
    if isinstance(value, Unmapped):
        raise SpecError("unmapped() is for the arguments of action.map()", path=path)
    if isinstance(value, InputRef):
        return {"input": value.name}
    if isinstance(value, StepRef) and value.scalar:
        return {"step": value.step, "output": "result"}
    if isinstance(value, OutputRef):
        return {"step": value.step} if value.output is None else {"step": value.step, "output": value.output}
    if isinstance(value, File):
        raise SpecError("a File constant cannot be bound at definition time; pass it as a workflow input", path=path)
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise SpecError("dict keys must be strings", path=path)
        items = {key: to_binding(item, f"{path}.{key}") for key, item in value.items()}
        if all("value" in b for b in items.values()):
            return {"value": {key: b["value"] for key, b in items.items()}}
        return {"object": items}
    if isinstance(value, list | tuple):
        entries = [to_binding(item, f"{path}[{index}]") for index, item in enumerate(value)]
        if all("value" in b for b in entries):
            return {"value": [b["value"] for b in entries]}
        return {"array": entries}
    if isinstance(value, _JSON_SCALARS):
        return {"value": value}
    raise SpecError(f"{type(value).__name__} is not a JSON value, a File or a reference", path=path)


@contextmanager
def recording(workflow: str) -> Iterator[Recording]:
    """Record action calls made in this context as steps of ``workflow``."""
    if _current.get() is not None:
        raise SpecError("a @workflow function cannot be traced inside another one", path=f"workflow {workflow}")
    recording = Recording(workflow)
    token = _current.set(recording)
    try:
        yield recording
    finally:
        _current.reset(token)
