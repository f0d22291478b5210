"""``@trigger``: a custom trigger is an async generator in user code that yields events.

Deployed with a workflow that lists it in ``triggers=[...]``, it runs as a long-running function that
posts each yielded event to the control plane as a CloudEvent (to ``$K_SINK``, the Knative sink
convention), and every event it posts starts a run of that workflow::

    @trigger
    async def new_files():
        async for name in watch_bucket():
            yield Event(type="com.example.file", data={"name": name}, id=name)

    @workflow(triggers=[new_files])  # or new_files.matching(type="com.example.file", filters={...})
    def ingest(name: str): ...
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, overload

from ._action import code_version, entrypoint_of
from ._errors import SpecError
from ._options import make_options

if TYPE_CHECKING:
    from ._trigger_specs import SourceTrigger


@dataclass(frozen=True)
class Event:
    """One event a custom trigger yields (a plain ``dict`` with these keys works too).

    Attributes:
        type: the CloudEvents ``type``, e.g. ``com.example.file.created``.
        data: any JSON value: a JSON object becomes the run's inputs, anything else ``{"data": value}``.
        subject: what the event is about, within the trigger (also the Kafka key, for ordering).
        id: a stable id makes posting the same event twice start one run (a UUID when omitted).
        time: when it happened (now when omitted).
        extensions: more CloudEvents attributes (lowercase alphanumeric names).
    """

    type: str
    data: Any = None
    subject: str | None = None
    id: str | None = None
    time: datetime | None = None
    extensions: Mapping[str, Any] = field(default_factory=dict)


class TriggerDefinition:
    """A ``@trigger`` function: callable as the generator it wraps, listable in ``triggers=[...]``."""

    def __init__(self, fn: Callable[[], AsyncIterator[Any]], name: str, options: dict[str, Any]):
        self.fn = fn
        self.name = name
        self.options = options

    def __call__(self) -> AsyncIterator[Any]:
        return self.fn()

    @cached_property
    def entrypoint(self) -> str:
        """``module:function``, how the runtime finds the generator."""
        return entrypoint_of(self.fn)

    @cached_property
    def version(self) -> str:
        """A stable hash of the trigger's module source, entrypoint and options."""
        return code_version(self.fn, self.options)

    def matching(self, type: str = "*", filters: dict[str, Any] | None = None) -> SourceTrigger:  # noqa: A002
        """This trigger, starting runs only for events of ``type`` (exact, or a ``*`` prefix) whose
        data fields equal ``filters``.

        Raises:
            SpecError: for an invalid type or filters.
        """
        from ._trigger_specs import SourceTrigger
        from ._triggers import _build

        return _build(
            SourceTrigger,
            f"triggers.source {self.name}",
            name=self.name,
            version=self.version,
            entrypoint=self.entrypoint,
            options=self.options,
            type=type,
            filters=filters or {},
        )

    def __repr__(self) -> str:
        return f"<trigger {self.name} {self.entrypoint}>"


@overload
def trigger(fn: Callable[[], AsyncIterator[Any]], /) -> TriggerDefinition: ...


@overload
def trigger(
    *,
    name: str | None = None,
    requirements: list[str] | tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    secrets: list[str] | tuple[str, ...] = (),
) -> Callable[[Callable[[], AsyncIterator[Any]]], TriggerDefinition]: ...


def trigger(
    fn: Callable[[], AsyncIterator[Any]] | None = None,
    /,
    *,
    name: str | None = None,
    requirements: list[str] | tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    secrets: list[str] | tuple[str, ...] = (),
) -> Any:
    """Make an async generator function (no parameters) a custom trigger; bare or with options.

    Args:
        fn: the generator function, when used bare.
        name: the trigger's name (its events' source is ``/triggers/{name}``); the function's name by default.
        requirements: packages its function needs (pip requirement strings).
        env: environment variables of its function.
        secrets: names of secrets exposed to its function.

    Raises:
        SpecError: when the function is not an async generator function without required parameters.
    """

    def decorate(function: Callable[[], AsyncIterator[Any]]) -> TriggerDefinition:
        trigger_name: str = name or str(getattr(function, "__name__", ""))
        where = f"trigger {trigger_name}"
        if not inspect.isasyncgenfunction(function):
            raise SpecError("@trigger expects an async generator function (async def with yield)", path=where)
        required = [
            p.name for p in inspect.signature(function).parameters.values() if p.default is inspect.Parameter.empty
        ]
        if required:
            raise SpecError(f"a trigger takes no required parameters, got {required}", path=where)
        options = make_options(where=where, requirements=requirements, env=env, secrets=secrets).as_dict()
        definition = TriggerDefinition(function, trigger_name, options)
        definition.matching()  # checks the name now, where the mistake is made
        return definition

    if fn is not None:
        return decorate(fn)
    return decorate
