"""Workflows, actions and deployments: what is registered and what is served."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from ._base import Reply, Request

DeploymentStatus = Literal["deploying", "ready", "failed", "undeployed"]


class Code(Request):
    """Code uploaded with a workflow or an action: file contents (base64) by relative POSIX path."""

    files: dict[str, str] = Field(default_factory=dict)


class WorkflowRequest(Request):
    """``POST /v1/workflows`` as JSON (a YAML spec as the whole body is the other way)."""

    spec: dict[str, Any]
    code: Code | None = None


class ActionRequest(Request):
    """``POST /v1/actions``."""

    spec: dict[str, Any]
    code: Code | None = None


class DeployRequest(Request):
    """``POST /v1/workflows/{name}/deploy``: a version, or the latest.

    ``source`` names the file it is deployed from, kept with the deployment: deploying a workflow
    deployed from another source is refused (409, ``field: source``) unless ``replace``.
    """

    version: str | None = None
    source: str | None = Field(default=None, max_length=1024)
    replace: bool = False


class RollbackRequest(Request):
    """``POST /v1/workflows/{name}/rollback``: the version to deploy again, or None for the one registered
    before the deployed one."""

    version: str | None = Field(default=None, pattern=r"^[a-f0-9]{12}$")


class Registered(Reply):
    """A registered workflow or action version; ``created`` is false when it existed already."""

    name: str
    version: str
    created: bool


class Deployment(Reply):
    """A workflow's deployment: which version serves its triggers, or why it failed."""

    workflow: str
    version: str
    status: DeploymentStatus
    error: str | None = None
    updated_at: datetime | None = None
    #: the file it was deployed from, as the deployer named it (None: deployed through the API alone)
    source: str | None = None


class WorkflowSummary(Reply):
    """A workflow as listed."""

    name: str
    latest_version: str
    deployment: str | None = None
    deployed_version: str | None = None
    updated_at: datetime | None = None


class WorkflowList(Reply):
    """Every workflow."""

    workflows: list[WorkflowSummary]


class Workflow(Reply):
    """The latest version of a workflow with its deployment."""

    name: str
    version: str
    spec: dict[str, Any]
    deployment: Deployment | None = None


class WorkflowVersion(Reply):
    """One version of a workflow."""

    name: str
    version: str
    spec: dict[str, Any]


class VersionInfo(Reply):
    """When a version was registered."""

    version: str
    created_at: datetime | None = None


class WorkflowVersions(Reply):
    """Every version of a workflow, newest first."""

    name: str
    versions: list[VersionInfo]


class ActionSummary(Reply):
    """An action version as listed."""

    name: str
    version: str
    build_status: str
    entrypoint: str
    created_at: datetime | None = None


class ActionList(Reply):
    """Every action version, newest first per action."""

    actions: list[ActionSummary]


class Action(Reply):
    """An action version with its build."""

    name: str
    version: str
    spec: dict[str, Any]
    build_status: str
    build_logs: str | None = None
    artifact: dict[str, Any] | None = None


class TriggerState(Reply):
    """One trigger of a workflow's spec, and whether it starts runs now.

    Attributes:
        kind: ``http``, ``event``, ``schedule``, ``manual`` or ``source``.
        spec: the trigger as the spec declares it.
        enabled: whether it starts runs now (the workflow is deployed and ready).
        hook: the path an ``http`` trigger answers at (``/hooks/...``).
        next_fire_at: when a ``schedule`` fires next, while it is enabled.
    """

    kind: str
    spec: dict[str, Any]
    enabled: bool
    hook: str | None = None
    next_fire_at: datetime | None = None


class WorkflowTriggers(Reply):
    """``GET /v1/workflows/{name}/triggers``: the triggers of the deployed version (the latest one when
    none is deployed)."""

    workflow: str
    version: str
    deployed: bool
    triggers: list[TriggerState]
