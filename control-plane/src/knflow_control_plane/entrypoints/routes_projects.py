"""``/v1/projects``: the projects one control plane serves. An operator creates, lists and deletes them;
a project's admin key sees its own project only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request

from knflow import rest

from ..domain.access import Role
from ..errors import NotFound
from .auth import principal_of
from .context import plane
from .openapi import problems
from .schemas import iso

router = APIRouter(prefix="/v1")
_NAME = Path(pattern=rest.PROJECT_PATTERN, max_length=40, description="The project's name")


def _project_json(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "created_at": iso(record["created_at"])}


@router.post("/projects", status_code=201, response_model=rest.ProjectCreated, responses=problems(409))
async def create_project(request: Request, body: rest.ProjectRequest) -> dict[str, Any]:
    """A new project (an operator's call), with its first ``admin`` key: ``admin_key.key`` is shown in this
    reply only."""
    created = await plane(request).projects.create(body.name)
    key = created.pop("admin_key")
    times = ("created_at", "expires_at", "revoked_at")
    admin_key = {k: (iso(v) if k in times else v) for k, v in key.items() if k != "project"}
    return {**_project_json(created), "admin_key": admin_key}


@router.get("/projects", response_model=rest.ProjectList)
async def list_projects(request: Request) -> dict[str, Any]:
    """The projects the caller may see: every one for an operator, only its own for a project's key."""
    caller = principal_of(request)
    only = None if caller.role is Role.operator else caller.project
    return {"projects": [_project_json(p) for p in await plane(request).projects.list(only)]}


@router.get("/projects/{name}", response_model=rest.Project, responses=problems(404))
async def get_project(request: Request, name: str = _NAME) -> dict[str, Any]:
    """One project, with its count of workflows and its deployed ones (a project's key: its own only)."""
    caller = principal_of(request)
    if caller.role is not Role.operator and caller.project != name:
        raise NotFound(f"no project {name!r}", field="name")  # another project's is as if it did not exist
    return _project_json(await plane(request).projects.get(name))


@router.delete("/projects/{name}", response_model=rest.ProjectDeleted, responses=problems(404, 409))
async def delete_project(
    request: Request,
    name: str = _NAME,
    force: bool = Query(False, description="Undeploy its workflows first, then delete everything of it"),
) -> dict[str, Any]:
    """Delete a project with its workflows, runs, files' records, keys and secrets (an operator's call).
    While a workflow of it is deployed the answer is 409 naming them (``deployed``), unless ``force``."""
    return await plane(request).projects.delete(name, force=force)
