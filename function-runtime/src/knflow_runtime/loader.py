"""Finding the one action a runtime serves: ``module:function`` -> ``ActionDefinition``."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from knflow import ActionDefinition, SpecError, action

from .errors import LoadError


def import_target(target: str, code_path: str | None = None) -> Any:
    """Import ``module:attribute`` and return the attribute.

    Args:
        target: ``module:function``; the function part may be dotted (``module:Class.method``).
        code_path: a directory prepended to ``sys.path`` first (where the user's code was copied).

    Raises:
        LoadError: when the module cannot be imported or the attribute does not exist.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise LoadError(f"expected 'module:function', got {target!r}")
    if code_path and code_path not in sys.path:
        sys.path.insert(0, code_path)
    try:
        found: Any = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # a user module may fail to import in any way; say which, then stop
        raise LoadError(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from exc
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise LoadError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return found


def load_action(target: str, code_path: str | None = None) -> ActionDefinition[..., Any]:
    """Import ``module:function`` and return it as an action.

    Raises:
        LoadError: when the module cannot be imported, the attribute does not exist or is not callable.
    """
    found = import_target(target, code_path)
    if isinstance(found, ActionDefinition):
        return found
    if not callable(found):
        raise LoadError(f"{target} is a {type(found).__name__}, not a function")
    # A plain function is served as if it had been decorated bare: default options, its own name.
    try:
        return action(found)
    except SpecError as exc:
        raise LoadError(f"{target} cannot be an action: {exc}") from exc
