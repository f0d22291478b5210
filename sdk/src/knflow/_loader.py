"""Loading a user's project: the workflows and actions of a ``.py`` or spec file, and its code bundle.

A Python file is imported as a top-level module named after its stem, with its directory first on
``sys.path``: the entrypoints it yields (``stem:function``) are those a function runtime imports
from the bundle. A YAML or JSON spec takes the actions it does not carry from the ``@action``s of
the ``.py`` files next to it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ._absent import absent_packages
from ._action import ActionDefinition
from ._errors import SpecError
from ._workflow import WorkflowDefinition
from .spec import ActionSpec, WorkflowSpec, load_spec
from .validation import validate_workflow

MAX_BUNDLE_BYTES = 20 * 1024 * 1024
SKIPPED_DIRS = frozenset({"__pycache__", ".venv", "venv", "node_modules", ".knflow"})
SPEC_SUFFIXES = frozenset({".yaml", ".yml", ".json"})
_USER_MODULE_MARK = "__knflow_user_module__"
#: packages a file may import without them being installed here, before the loader gives up
_MAX_ABSENT = 32


@dataclass(frozen=True)
class LoadedProject:
    """What a user's file defines.

    Attributes:
        path: the file loaded.
        root: its directory, the root of the code bundle.
        workflows: the workflow specs found, by name, each carrying the actions it calls.
        actions: every ``@action`` found in the Python files imported, by name.
        files: the code bundle, relative POSIX path -> content.
        absent: packages the files import that are not installed here: recorded with stand-ins, and
            imported for real where each action runs (its ``requirements=``), at deploy.
    """

    path: Path
    root: Path
    workflows: dict[str, WorkflowSpec] = field(default_factory=dict)
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    absent: tuple[str, ...] = ()


def load_file(path: str | os.PathLike[str], *, max_bundle_bytes: int = MAX_BUNDLE_BYTES) -> LoadedProject:
    """Load the workflows of a ``.py``, ``.yaml``, ``.yml`` or ``.json`` file and bundle its directory.

    Raises:
        SpecError: when the file is missing or of another kind, when importing user code fails (the
            message names the file and the exception), when a step's action is found nowhere, or
            when the bundle exceeds ``max_bundle_bytes``.
    """
    file = Path(path).resolve()
    if not file.is_file():
        raise SpecError(f"{path}: no such file")
    root = file.parent
    absent: set[str] = set()
    if file.suffix == ".py":
        workflows, actions = _definitions_of(import_user_file(file, absent=absent))
        specs = {name: wf.spec for name, wf in workflows.items()}
    elif file.suffix in SPEC_SUFFIXES:
        spec, actions = _load_spec_file(file, absent)
        specs = {spec.name: spec}
    else:
        raise SpecError(f"{path}: expected a .py, .yaml, .yml or .json file")
    _check_absent(
        file, absent, [a.spec for a in actions.values()] or [a for s in specs.values() for a in s.actions.values()]
    )
    if not specs:
        raise SpecError(f"{path}: no @workflow found")
    return LoadedProject(
        path=file,
        root=root,
        workflows=specs,
        actions={name: a.spec for name, a in actions.items()},
        files=bundle(root, max_bytes=max_bundle_bytes),
        absent=tuple(sorted(absent)),
    )


def _check_absent(file: Path, absent: set[str], actions: list[ActionSpec]) -> None:
    """Refuse packages missing here that no action asks for: they would be missing where it runs too.

    Raises:
        SpecError: naming the first such package and what to do.
    """
    if absent and not any(action.options.get("requirements") for action in actions):
        name = sorted(absent)[0]
        for module_name, module in list(sys.modules.items()):  # as a failed import leaves nothing behind
            if (
                getattr(module, _USER_MODULE_MARK, False)
                and Path(getattr(module, "__file__", "")).parent == file.parent
            ):
                del sys.modules[module_name]
        raise SpecError(
            f"{file}: importing it failed: ModuleNotFoundError: No module named {name!r}; "
            f"install it here, or list it in requirements= of the @action that needs it"
        )


def import_user_file(file: Path, *, absent: set[str] | None = None) -> ModuleType:
    """Import ``file`` afresh as the top-level module named after its stem.

    Args:
        file: the ``.py`` file.
        absent: when given, each top-level package the file imports that is not installed here is
            imported as a stand-in (``_absent.py``) and its name added to this set; otherwise a
            missing package fails the import like any other exception.

    Raises:
        SpecError: when the stem is not a valid module name, shadows an installed module, or the
            module raises while it is imported.
    """
    name = file.stem
    if not name.isidentifier():
        raise SpecError(f"{file}: {name!r} is not a valid Python module name; rename the file")
    if name in sys.stdlib_module_names or _taken(name, file):
        raise SpecError(f"{file}: the module name {name!r} is taken by an installed module; rename the file")
    missing: set[str] = set()
    while True:
        try:
            with absent_packages(missing):
                module = _execute(file, name)
        except ModuleNotFoundError as exc:
            package = _missing_package(exc, file.parent)
            if absent is None or package is None or package in missing or len(missing) >= _MAX_ABSENT:
                raise SpecError(f"{file}: importing it failed: {type(exc).__name__}: {exc}") from exc
            missing.add(package)
            continue
        if absent is not None:
            absent.update(missing)
        return module


def _execute(file: Path, name: str) -> ModuleType:
    module_spec = importlib.util.spec_from_file_location(name, file)
    if module_spec is None or module_spec.loader is None:  # pragma: no cover - .py files always have a loader
        raise SpecError(f"{file}: cannot be imported")
    module = importlib.util.module_from_spec(module_spec)
    setattr(module, _USER_MODULE_MARK, True)
    directory = str(file.parent)
    added = directory not in sys.path
    if added:
        sys.path.insert(0, directory)
    # Registered before it runs: pydantic, dataclasses and an action's version hash look it up there.
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except SpecError as exc:
        sys.modules.pop(name, None)
        raise SpecError(f"{file}: {exc}", problems=exc.problems) from exc
    except ModuleNotFoundError:
        sys.modules.pop(name, None)
        raise
    except (Exception, SystemExit) as exc:  # user code may raise anything; report it, not a traceback
        sys.modules.pop(name, None)
        raise SpecError(f"{file}: importing it failed: {type(exc).__name__}: {exc}") from exc
    finally:
        if added and directory in sys.path:
            sys.path.remove(directory)
    return module


def _missing_package(exc: ModuleNotFoundError, root: Path) -> str | None:
    """The top-level package a project file imported and that is not installed here, else None.

    Only an import written in the project counts: a missing dependency of an installed package is that
    package's problem, and the user's environment's, not a requirement of an action.
    """
    package = (exc.name or "").partition(".")[0]
    if not package or package in sys.stdlib_module_names or importlib.util.find_spec(package) is not None:
        return None
    frames = [frame.filename for frame in traceback.extract_tb(exc.__traceback__)]
    importer = next((f for f in reversed(frames) if not f.startswith("<")), None)
    if importer is None or "site-packages" in importer or not Path(importer).resolve().is_relative_to(root):
        return None
    return package


def _taken(name: str, file: Path) -> bool:
    """Whether ``name`` is already imported from somewhere else than the user's ``file``."""
    existing = sys.modules.get(name)
    if existing is None or getattr(existing, _USER_MODULE_MARK, False):
        return False
    origin = getattr(existing, "__file__", None)
    return origin is None or Path(origin).resolve() != file


def _definitions_of(
    module: ModuleType,
) -> tuple[dict[str, WorkflowDefinition], dict[str, ActionDefinition[Any, Any]]]:
    workflows: dict[str, WorkflowDefinition] = {}
    actions: dict[str, ActionDefinition[Any, Any]] = {}
    for value in vars(module).values():
        if isinstance(value, WorkflowDefinition):
            workflows[value.name] = value
            actions.update(value.actions)
        elif isinstance(value, ActionDefinition):
            actions[value.name] = value
    return workflows, actions


def _load_spec_file(file: Path, absent: set[str]) -> tuple[WorkflowSpec, dict[str, ActionDefinition[Any, Any]]]:
    try:
        spec = load_spec(file.read_bytes())
    except SpecError as exc:
        raise SpecError(f"{file}: {exc}", problems=exc.problems) from exc
    missing = sorted({step.action for step in spec.steps if step.action is not None} - set(spec.actions))
    if not missing:
        validate_workflow(spec)
        return spec, {}
    found: dict[str, ActionDefinition[Any, Any]] = {}
    for source in sorted(file.parent.glob("*.py")):
        found.update(_definitions_of(import_user_file(source.resolve(), absent=absent))[1])
    still_missing = [name for name in missing if name not in found]
    if still_missing:
        raise SpecError(
            f"{file}: no @action named {', '.join(still_missing)} in the spec or in the .py files of {file.parent}"
        )
    actions = {**{n: a.model_dump(mode="json") for n, a in spec.actions.items()}}
    actions.update({name: found[name].spec.model_dump(mode="json") for name in missing})
    spec = load_spec({**spec.model_dump(mode="json"), "actions": actions})
    validate_workflow(spec)
    return spec, {name: found[name] for name in missing}


def bundle(root: Path, *, max_bytes: int = MAX_BUNDLE_BYTES) -> dict[str, bytes]:
    """Every ``*.py`` file under ``root`` (hidden and tool directories skipped), by relative POSIX path.

    Raises:
        SpecError: when the files weigh more than ``max_bytes`` together.
    """
    files: dict[str, bytes] = {}
    total = 0
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS)
        for filename in sorted(filenames):
            if not filename.endswith(".py"):
                continue
            path = Path(directory, filename)
            data = path.read_bytes()
            total += len(data)
            if total > max_bytes:
                raise SpecError(
                    f"the code bundle of {root} exceeds {max_bytes / 1024 / 1024:g} MiB; "
                    "move large files out of this directory"
                )
            files[path.relative_to(root).as_posix()] = data
    return files
