"""``@action``: a plain Python function becomes a versioned, deployable unit of work."""

from __future__ import annotations

import inspect
import json
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast, overload

from . import _types
from ._errors import InputValidationError, SpecError
from ._options import ActionOptions, make_options

if TYPE_CHECKING:
    from .spec import ActionSpec

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Param:
    """One parameter of an action: its annotation and default."""

    name: str
    annotation: Any
    required: bool
    default: Any


class ActionDefinition(Generic[P, R]):
    """What ``@action`` turns a function into.

    Calling it outside a workflow runs the function; inside a ``@workflow`` function it adds a step
    and returns a reference to the step's outputs.

    Attributes:
        fn: the decorated function.
        name: the action's name (the function's name unless given).
        options: build, scale and retry options.
        params: the function's parameters by name.
    """

    def __init__(self, fn: Callable[P, R], name: str, options: ActionOptions):
        self.fn = fn
        self.name = name
        self.options = options
        self.params, self.var_keyword = _params_of(fn, name)
        self.is_async = inspect.iscoroutinefunction(fn)
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", name)
        self.__qualname__ = getattr(fn, "__qualname__", name)
        self.__module__ = fn.__module__
        self.__wrapped__ = fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        from ._recording import current_recording

        recording = current_recording()
        if recording is not None:
            when = kwargs.pop("when", None) if self._reserves("when") else None
            return cast("R", recording.add_step(self, None, args, kwargs, when=when))
        return self.fn(*args, **kwargs)

    def _reserves(self, keyword: str) -> bool:
        # ``when=`` (and map's options) are the step's unless the action takes an input of that name:
        # then it is the input, as it was before steps had options (``named(..., when=)`` still works)
        return keyword not in self.params and not self.var_keyword

    def named(self, step_name: str, *, when: Any = None) -> Callable[..., Any]:
        """Inside a workflow: call this action as a step called ``step_name``, run only ``when`` a
        condition holds (a boolean output, an input, or a condition string: see ``knflow.conditions``)."""

        def call(*args: Any, **kwargs: Any) -> Any:
            from ._recording import current_recording

            recording = current_recording()
            if recording is None:
                raise SpecError("named() is for steps inside a @workflow function", path=step_name)
            return recording.add_step(self, step_name, args, kwargs, when=when)

        return call

    def when(self, condition: Any, *, name: str | None = None) -> Callable[P, R]:
        """Inside a workflow: this action as a step run only when ``condition`` holds (a boolean output,
        an input, or a condition string); the same as ``when=`` in the call, but type-checked:
        ``notify.when(check["ok"])(message=...)``."""

        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            from ._recording import current_recording

            recording = current_recording()
            if recording is None:
                raise SpecError("when() is for steps inside a @workflow function", path=f"action {self.name}")
            return cast("R", recording.add_step(self, name, args, kwargs, when=condition))

        return call

    def map(self, **kwargs: Any) -> Any:
        """Inside a workflow: run this action once per item of the run-time lists it is given.

        Every argument bound to a workflow input or a step output is mapped over element-wise (equal
        lengths at run time); constants and ``unmapped(ref)`` go whole to every item. The step's result
        is the list of the items' results, in input order. Step options (when the action has no input of
        that name): ``max_parallel`` (items in flight at most, default 16), ``on_error`` (``"fail"``:
        the first permanent failure fails the map; ``"collect"``: the list holds results and error
        records), ``when`` and ``name`` (the step's name).

        Raises:
            SpecError: outside a workflow, or with no argument to map over.
        """
        from ._recording import current_recording

        recording = current_recording()
        if recording is None:
            raise SpecError("map() is for steps inside a @workflow function", path=f"action {self.name}")
        reserved = [key for key in ("max_parallel", "on_error", "when") if key in kwargs and self._reserves(key)]
        options: dict[str, Any] = {key: kwargs.pop(key) for key in reserved}
        name = kwargs.pop("name", None) if self._reserves("name") else None
        return recording.add_map(self, name, kwargs, options)

    @cached_property
    def entrypoint(self) -> str:
        """``module:function``, how a function runtime finds this action."""
        return entrypoint_of(self.fn)

    @cached_property
    def version(self) -> str:
        """A stable hash of the action's source (its whole module), name and options."""
        return code_version(self.fn, self.options.as_dict())

    @cached_property
    def validators(self) -> dict[str, _types.Validator]:
        """One validator per parameter."""
        return {name: _types.validator_for(param.annotation) for name, param in self.params.items()}

    def validate_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Inputs checked against the signature, converted where the annotation says, defaults filled.

        Raises:
            InputValidationError: naming the first input that is unknown, missing or of the wrong type.
        """
        unknown = [key for key in inputs if key not in self.params]
        if unknown and not self.var_keyword:
            raise InputValidationError(f"unknown input; {self.name} takes {sorted(self.params)}", field=unknown[0])
        checked: dict[str, Any] = {}
        for name, param in self.params.items():
            if name in inputs:
                checked[name] = self.validators[name](inputs[name], name)
            elif param.required:
                raise InputValidationError("missing required input", field=name)
        for key in unknown:
            checked[key] = inputs[key]
        return checked

    @cached_property
    def output_validators(self) -> tuple[_types.Validator | None, _types.Validator | None]:
        """How a return value is checked: (the whole value, each value of a ``dict[str, X]``), from the
        return annotation; (None, None) when there is none or it cannot be resolved here."""
        try:
            annotation = inspect.signature(self.fn, eval_str=True).return_annotation
        except (NameError, TypeError, SyntaxError):  # an annotation only a type checker sees
            return None, None
        if annotation is inspect.Signature.empty:
            return None, None
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        try:
            if origin is dict and len(args) == 2:  # each value is a named output: name it when it does not fit
                return _types.validator_for(dict), _types.validator_for(args[1])
            return _types.validator_for(annotation), None
        except Exception:  # noqa: BLE001  (an annotation pydantic cannot check accepts anything, as in the spec)
            return None, None

    def validate_output(self, value: Any) -> None:
        """Check a return value against the return annotation.

        Raises:
            InputValidationError: with ``field`` the output that does not fit (``result`` for a value
                that is not a dict of outputs, ``name.sub`` inside a model).
        """
        whole, each = self.output_validators
        if whole is not None:
            whole(value, "result")
        if each is not None:
            for name, item in value.items():
                each(item, str(name))

    @cached_property
    def spec(self) -> ActionSpec:
        """The action as a spec (for registration and validation)."""
        from .spec import ActionSpec, ParamSpec

        inputs = {
            name: ParamSpec(
                type=_types.schema_of(p.annotation),
                required=p.required,
                default=None if p.required else _jsonable_default(p.default),
            )
            for name, p in self.params.items()
        }
        output = _types.schema_of(inspect.signature(self.fn).return_annotation)
        return ActionSpec(
            name=self.name,
            version=self.version,
            entrypoint=self.entrypoint,
            inputs=inputs,
            output=output,
            var_keyword=self.var_keyword,
            is_async=self.is_async,
            options=self.options.as_dict(),
        )

    def __repr__(self) -> str:
        return f"<action {self.name} {self.entrypoint}>"


def _jsonable_default(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None) | list | dict) else repr(value)


def _params_of(fn: Callable[..., Any], name: str) -> tuple[dict[str, Param], bool]:
    try:
        signature = inspect.signature(fn, eval_str=True)
    except (NameError, TypeError) as exc:
        raise SpecError(f"cannot read the signature: {exc}", path=f"action {name}") from exc
    params: dict[str, Param] = {}
    var_keyword = False
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword = True
            continue
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            raise SpecError(f"parameter {param.name!r} must be passable by keyword", path=f"action {name}")
        annotation = _types.empty() if param.annotation is inspect.Parameter.empty else param.annotation
        required = param.default is inspect.Parameter.empty
        params[param.name] = Param(param.name, annotation, required, None if required else param.default)
    return params, var_keyword


def entrypoint_of(fn: Callable[..., Any]) -> str:
    """``module:function``, how a function runtime imports ``fn``."""
    return f"{fn.__module__}:{fn.__qualname__}"


def code_version(fn: Callable[..., Any], options: dict[str, Any]) -> str:
    """A stable hash of ``fn``'s code (its whole module), entrypoint and options: a deployable version."""
    import hashlib  # only where a version is computed (deploys), not on a function's cold start

    digest = hashlib.sha256()
    digest.update(_source_of(fn).encode())
    digest.update(entrypoint_of(fn).encode())
    digest.update(json.dumps(options, sort_keys=True).encode())
    return digest.hexdigest()[:12]


def _source_of(fn: Callable[..., Any]) -> str:
    # The whole module: a change in a helper the action calls must make a new version.
    module = sys.modules.get(fn.__module__)
    try:
        return inspect.getsource(module) if module is not None else inspect.getsource(fn)
    except (OSError, TypeError):
        try:
            return inspect.getsource(fn)
        except (OSError, TypeError):
            return fn.__qualname__


@overload
def action(fn: Callable[P, R], /) -> ActionDefinition[P, R]: ...


@overload
def action(
    *,
    name: str | None = None,
    requirements: list[str] | tuple[str, ...] = (),
    cpu: str | None = None,
    memory: str | None = None,
    gpu: int = 0,
    timeout: str | float = ...,
    retries: int = 0,
    backoff: str | float = 1.0,
    backoff_max: str | float = 60.0,
    concurrency: int = ...,
    max_instances: int = 4,
    env: Mapping[str, str] | None = None,
    secrets: list[str] | tuple[str, ...] = (),
    outputs: list[str] | tuple[str, ...] | None = None,
    min_scale: int | None = None,
    scale_metric: str | None = None,
    target: int | None = None,
    scale_down_delay: str | float | None = None,
    scale_to_zero_retention: str | float | None = None,
    max_concurrency: int | None = None,
) -> Callable[[Callable[P, R]], ActionDefinition[P, R]]: ...


def action(fn: Callable[..., Any] | None = None, /, *, name: str | None = None, **options: Any) -> Any:
    """Make a function an action; bare (``@action``) or with options (``@action(retries=3)``).

    Args:
        fn: the function, when used bare.
        name: the action's name; defaults to the function's name.
        **options: see :class:`knflow.ActionOptions` (durations accept ``"30s"``-style strings).

    Raises:
        SpecError: when an option or the signature is invalid.
    """

    def decorate(function: Callable[..., Any]) -> ActionDefinition[Any, Any]:
        if isinstance(function, ActionDefinition):
            raise SpecError("@action applied twice", path=f"action {function.name}")
        if not callable(function):
            raise SpecError(f"@action expects a function, got {type(function).__name__}")
        action_name = name or function.__name__
        try:
            checked = make_options(where=f"action {action_name}", **options)
        except TypeError as exc:  # an option that does not exist
            raise SpecError(str(exc).replace("make_options()", "@action"), path=f"action {action_name}") from exc
        return ActionDefinition(function, action_name, checked)

    if fn is not None:
        if options or name is not None:
            raise TypeError("use @action or @action(...), not both")
        return decorate(fn)
    return decorate
