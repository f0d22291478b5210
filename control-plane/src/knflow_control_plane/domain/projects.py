"""Projects: what a valid project name is, and how a function of a project is named to a backend. No I/O."""

from __future__ import annotations

import re

#: A project name: a DNS label (it names the Kubernetes Secret ``knflow-secrets-{project}``), at most 40
#: characters so that names built from it stay within Kubernetes' 63.
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
#: Joins a project and an action into the name a backend deploys: ``.`` is in no action name (an action's
#: name is a Python identifier), so a qualified name never equals an action's own.
SEPARATOR = "."


def invalid_name(name: str) -> str | None:
    """Why ``name`` cannot name a project, or None when it can."""
    if not NAME.match(name):
        return (
            f"project name {name!r} must be 1-40 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return None


def function_name(project: str, action: str, default: str) -> str:
    """The name a backend knows the function of ``action`` by: the action's own in the plane's ``default``
    project (as before projects shared a plane), ``{project}.{action}`` in every other.

    Two projects may deploy actions of the same name, even of the same code (the same version): each gets
    its own function, with its own secrets.
    """
    return action if project == default else f"{project}{SEPARATOR}{action}"


def project_of(function: str, default: str) -> str:
    """The project a backend's function name (:func:`function_name`) belongs to."""
    project, separator, _ = function.partition(SEPARATOR)
    return project if separator else default


def action_of(function: str) -> str:
    """The action a backend's function name (:func:`function_name`) runs."""
    return function.rpartition(SEPARATOR)[2]
