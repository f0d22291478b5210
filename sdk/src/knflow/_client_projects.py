"""The client's calls on projects (``/v1/projects``), kept beside the client's other calls."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from . import rest

M = TypeVar("M", bound=rest.Reply)

#: The header that names the project a request acts in (an operator's key, or a plane with keys off).
PROJECT_HEADER = "X-Knflow-Project"


class _Calls(Protocol):
    def _request(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Any: ...

    def _typed(self, model: type[M], method: str, path: str, *, json: Any = None, params: Any = None) -> M: ...


class ProjectCalls:
    """Create, list, get and delete projects (an operator's calls; a project's key sees its own)."""

    def create_project(self: _Calls, name: str) -> rest.ProjectCreated:
        """A new project and its first ``admin`` key (``admin_key.key``: shown in this reply only)."""
        body = rest.ProjectRequest(name=name).model_dump(mode="json")
        return self._typed(rest.ProjectCreated, "POST", "/v1/projects", json=body)

    def list_projects(self: _Calls) -> list[rest.Project]:
        """The projects the caller may see: every one for an operator, its own for a project's key."""
        return self._typed(rest.ProjectList, "GET", "/v1/projects").projects

    def get_project(self: _Calls, name: str) -> rest.Project:
        """One project, with its count of workflows and its deployed ones."""
        return self._typed(rest.Project, "GET", f"/v1/projects/{name}")

    def delete_project(self: _Calls, name: str, *, force: bool = False) -> rest.ProjectDeleted:
        """Delete a project with everything of it; ``force`` undeploys its deployed workflows first (without
        it, a project with deployed workflows is refused, naming them)."""
        params = {"force": "true"} if force else None
        return self._typed(rest.ProjectDeleted, "DELETE", f"/v1/projects/{name}", params=params)
