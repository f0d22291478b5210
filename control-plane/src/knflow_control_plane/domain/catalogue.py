"""What the catalogue store gives back: actions, workflows, deployments and HTTP routes as frozen records.

Specs stay JSON (``dict``): they are parsed by the SDK's models where a rule needs them, and most reads only
pass them on. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ActionVersion:
    """One registered version of an action and its build.

    Attributes:
        code: the zipped source; None when registered without code, and in listings (never read there).
        build_status: ``pending``, ``ready`` or ``failed``.
        artifact: where the build put what runs (an image, a venv), once built.
    """

    project: str
    name: str
    version: str
    spec: dict[str, Any]
    code: bytes | None
    code_digest: str | None
    build_status: str
    build_logs: str
    artifact: dict[str, Any] | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class WorkflowVersion:
    """One registered version of a workflow, with its spec."""

    project: str
    name: str
    version: str
    spec: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class VersionEntry:
    """A line of a workflow's history."""

    version: str
    created_at: float


@dataclass(frozen=True, slots=True)
class WorkflowEntry:
    """A workflow as listed: its latest version and its deployment's state, if deployed once."""

    project: str
    name: str
    latest_version: str
    created_at: float
    updated_at: float
    deployment: str | None
    deployed_version: str | None


@dataclass(frozen=True, slots=True)
class Deployment:
    """A workflow's deployment.

    Attributes:
        status: ``deploying``, ``ready``, ``failed`` or ``undeployed``.
        error: why it failed, if it did.
        source: the file it was deployed from, as the deployer named it (None: through the API alone).
    """

    project: str
    workflow: str
    version: str
    status: str
    error: str | None
    created_at: float
    updated_at: float
    source: str | None


@dataclass(frozen=True, slots=True)
class Route:
    """An HTTP trigger of a deployed workflow: ``method path`` starts a run of ``workflow`` at ``version``.

    Attributes:
        trigger: the trigger's spec (JSON form).
    """

    project: str
    method: str
    path: str
    workflow: str
    version: str
    trigger: dict[str, Any]
