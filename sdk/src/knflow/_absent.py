"""Stand-ins for packages that are not installed where a workflow is recorded.

``knflow deploy`` imports the user's file to record its workflows, on the user's machine; an action's
``requirements=`` are installed only where it runs. A file that imports such a package at its top
(``import six`` beside ``@action(requirements=["six"])``) would fail to load there, so the loader
imports it again with each missing package replaced by an :class:`AbsentModule`: attributes, calls,
subscripts and subclassing all work on it and produce more stand-ins, and a decorator from it leaves
the function it wraps as it is. Recording needs none of the package's behaviour (actions are not run,
only their signatures read and their calls recorded); the deploy then imports every action where it
runs, beside its requirements, and checks that its signature there is the recorded one.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import inspect
import sys
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class Absent:
    """A value from a package that is not installed here: any use gives another stand-in."""

    def __init__(self, name: str):
        self._absent_name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)  # protocols (copy, pickle, pydantic) must not think it speaks them
        return Absent(f"{self._absent_name}.{attribute}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and (inspect.isfunction(args[0]) or inspect.isclass(args[0])):
            return args[0]  # used as a decorator: the function stays what the user wrote
        return Absent(f"{self._absent_name}()")

    def __getitem__(self, key: Any) -> Any:
        return Absent(f"{self._absent_name}[...]")

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type, ...]:
        return (object,)  # class Model(package.Base): a plain class here

    def __or__(self, other: Any) -> Any:
        return Any  # ``package.Type | None`` in an annotation: anything, as the real type may be

    __ror__ = __or__

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __repr__(self) -> str:
        return f"<{self._absent_name}: not installed here>"


class AbsentModule(types.ModuleType):
    """A module that is not installed here (a package: its submodules are absent too)."""

    def __init__(self, name: str):
        super().__init__(name, f"{name} is not installed here; it is imported where the action runs")
        self.__path__: list[str] = []

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)
        return Absent(f"{self.__name__}.{attribute}")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the absent packages (and their submodules), last on ``sys.meta_path``."""

    def __init__(self, names: set[str]):
        self.names = names

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in self.names:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return AbsentModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


@contextmanager
def absent_packages(names: set[str]) -> Iterator[None]:
    """Import the top-level packages ``names`` as stand-ins while inside (and forget them after)."""
    finder = _Finder(names)
    sys.meta_path.append(finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n, m in sys.modules.items() if isinstance(m, AbsentModule)]:
            del sys.modules[name]
