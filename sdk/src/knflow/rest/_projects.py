"""Projects: the tenants of one control plane, each with its own keys, secrets, workflows, runs and files."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ._access import ApiKeyCreated
from ._base import Reply, Request

#: A project name: a DNS label of 1-40 characters (it names the Kubernetes Secret of the project's secrets).
PROJECT_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"


class ProjectRequest(Request):
    """``POST /v1/projects``: a new project (an operator's call)."""

    name: str = Field(pattern=PROJECT_PATTERN, max_length=40)


class Project(Reply):
    """A project, with what it holds."""

    name: str
    created_at: datetime
    workflows: int = 0
    deployed: list[str] = Field(default_factory=list, description="Its workflows deployed now.")


class ProjectCreated(Project):
    """A new project and its first ``admin`` key (shown in this reply only)."""

    admin_key: ApiKeyCreated


class ProjectList(Reply):
    """The projects the caller may see: every one for an operator, its own for a project's key."""

    projects: list[Project]


class ProjectDeleted(Reply):
    """What deleting a project removed (``?force=true`` undeploys its workflows first)."""

    name: str
    undeployed: list[str] = Field(default_factory=list)
