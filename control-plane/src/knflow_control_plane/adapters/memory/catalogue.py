"""Actions, workflows, deployments and HTTP routes in memory (the
:class:`~knflow_control_plane.ports.CatalogueStore` port), rows shaped as the database's."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from ...domain.catalogue import ActionVersion, Deployment, Route, VersionEntry, WorkflowEntry, WorkflowVersion
from ._json import stored

_Key = tuple[str, str]  # (project, name)


class MemoryCatalogue:
    """The catalogue of every project, as the ``action_versions``, ``workflows``, ``workflow_versions``,
    ``deployments`` and ``routes`` tables hold it."""

    def __init__(self) -> None:
        self._actions: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._workflows: dict[_Key, dict[str, Any]] = {}
        self._versions: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._deployments: dict[_Key, dict[str, Any]] = {}
        self._routes: dict[tuple[str, str, str], dict[str, Any]] = {}  # (project, method, path)

    async def put_action_version(
        self, project: str, spec: dict[str, Any], code: bytes | None, code_digest: str | None, now: float
    ) -> bool:
        """Store an action version unless it exists (then only add code it lacked); True when it is new."""
        key = (project, spec["name"], spec["version"])
        found = self._actions.get(key)
        if found is not None:
            if code is not None and found["code"] is None:
                found.update(code=code, code_digest=code_digest, updated_at=now)
            return False
        self._actions[key] = {
            "project": project,
            "name": spec["name"],
            "version": spec["version"],
            "spec": stored(spec),
            "code": code,
            "code_digest": code_digest,
            "build_status": "pending",
            "build_logs": "",
            "artifact": None,
            "created_at": now,
            "updated_at": now,
        }
        return True

    async def get_action_version(self, project: str, name: str, version: str | None = None) -> ActionVersion | None:
        """One action version (the newest when ``version`` is None), code included."""
        found = [a for (p, n, v), a in self._actions.items() if p == project and n == name and version in (None, v)]
        return _record(ActionVersion, max(found, key=lambda a: a["created_at"])) if found else None

    async def set_build(
        self, project: str, name: str, version: str, status: str, logs: str, artifact: dict[str, Any] | None, now: float
    ) -> None:
        """Record a build's outcome on its action version."""
        found = self._actions.get((project, name, version))
        if found is not None:
            found.update(build_status=status, build_logs=logs, artifact=stored(artifact), updated_at=now)

    async def list_actions(self, project: str) -> list[ActionVersion]:
        """Every action version of a project (``code`` left out: None), by name, newest first."""
        mine = [a for a in self._actions.values() if a["project"] == project]
        mine.sort(key=lambda a: -a["created_at"])
        mine.sort(key=lambda a: a["name"])
        return [_record(ActionVersion, a, code=None) for a in mine]

    async def delete_action(self, project: str, name: str) -> int:
        """Delete every version of an action; how many."""
        keys = [k for k in self._actions if k[0] == project and k[1] == name]
        for key in keys:
            del self._actions[key]
        return len(keys)

    async def put_workflow(self, project: str, spec: dict[str, Any], version: str, now: float) -> bool:
        """Store a workflow version and make it the latest; True when the version is new."""
        name = spec["name"]
        new = (project, name, version) not in self._versions
        if new:
            row = {"project": project, "name": name, "version": version, "spec": stored(spec), "created_at": now}
            self._versions[(project, name, version)] = row
        workflow = self._workflows.setdefault(
            (project, name), {"project": project, "name": name, "latest_version": version, "created_at": now}
        )
        workflow.update(latest_version=version, updated_at=now)
        return new

    async def get_workflow(self, project: str, name: str, version: str | None = None) -> WorkflowVersion | None:
        """A workflow version (the latest when ``version`` is None) with its spec."""
        if version is None:
            workflow = self._workflows.get((project, name))
            if workflow is None:
                return None
            version = workflow["latest_version"]
        found = self._versions.get((project, name, version))
        return _record(WorkflowVersion, found) if found is not None else None

    async def list_workflows(self, project: str) -> list[WorkflowEntry]:
        """Workflows with their latest version and deployment state, by name."""
        rows = []
        for (owner, name), workflow in sorted(self._workflows.items()):
            if owner == project:
                deployment = self._deployments.get((project, name)) or {}
                rows.append(
                    _record(
                        WorkflowEntry,
                        workflow,
                        deployment=deployment.get("status"),
                        deployed_version=deployment.get("version"),
                    )
                )
        return rows

    async def workflow_history(self, project: str, name: str) -> list[VersionEntry]:
        """Every version of a workflow, newest first."""
        mine = [v for (p, n, _), v in self._versions.items() if p == project and n == name]
        mine.sort(key=lambda v: -v["created_at"])
        return [VersionEntry(v["version"], v["created_at"]) for v in mine]

    async def delete_workflow(self, project: str, name: str) -> bool:
        """Delete a workflow's definition (its runs stay); True if it existed."""
        for key in [k for k in self._versions if k[0] == project and k[1] == name]:
            del self._versions[key]
        return self._workflows.pop((project, name), None) is not None

    async def set_deployment(
        self,
        project: str,
        workflow: str,
        version: str,
        status: str,
        error: str | None,
        now: float,
        source: str | None = None,
    ) -> None:
        """Create or update a workflow's deployment record (``source``, when given, replaces the one stored)."""
        found = self._deployments.get((project, workflow))
        if found is None:
            self._deployments[(project, workflow)] = {
                "project": project,
                "workflow": workflow,
                "version": version,
                "status": status,
                "error": error,
                "created_at": now,
                "updated_at": now,
                "source": source,
            }
            return
        found.update(version=version, status=status, error=error, updated_at=now)
        if source is not None:
            found["source"] = source

    async def get_deployment(self, project: str, workflow: str) -> Deployment | None:
        """A workflow's deployment record."""
        found = self._deployments.get((project, workflow))
        return _record(Deployment, found) if found is not None else None

    async def replace_routes(
        self, project: str, workflow: str, version: str, triggers: list[dict[str, Any]]
    ) -> list[str]:
        """Make ``triggers`` the HTTP routes of ``workflow``; the paths another workflow holds (of any project:
        a hook path is the plane's) are refused."""
        await self.delete_routes(project, workflow)
        clashes = []
        for trigger in triggers:
            key = (project, trigger["method"], trigger["path"])
            taken = await self.find_route(None, trigger["method"], trigger["path"])
            if taken is not None:
                holder = taken.workflow if taken.project == project else "another project"
                clashes.append(f"{trigger['method']} {trigger['path']} (used by {holder})")
                continue
            self._routes[key] = {
                "project": project,
                "method": trigger["method"],
                "path": trigger["path"],
                "workflow": workflow,
                "version": version,
                "trigger": stored(trigger),
            }
        return clashes

    async def delete_routes(self, project: str, workflow: str) -> None:
        """Remove every route of a workflow."""
        for key in [k for k, r in self._routes.items() if k[0] == project and r["workflow"] == workflow]:
            del self._routes[key]

    async def find_route(self, project: str | None, method: str, path: str) -> Route | None:
        """The deployed workflow an HTTP trigger request goes to (in any project: None)."""
        found = [
            r for (owner, m, p), r in self._routes.items() if m == method and p == path and project in (None, owner)
        ]
        return _record(Route, found[0]) if found else None

    async def routes_for_path(self, project: str | None, path: str) -> list[str]:
        """Methods served at ``path`` (to tell 405 from 404), in ``project`` (in any: None)."""
        return [method for (owner, method, at) in self._routes if project in (None, owner) and at == path]


_Record = TypeVar("_Record", ActionVersion, WorkflowVersion, WorkflowEntry, Deployment, Route)


def _record(kind: type[_Record], row: dict[str, Any], **given: Any) -> _Record:
    """``kind`` from a copy of the row (JSON deep-copied, as a database would hand out a new one)."""
    values = {f.name: given[f.name] if f.name in given else row[f.name] for f in fields(kind)}
    return kind(**{k: stored(v) if isinstance(v, dict | list) else v for k, v in values.items()})
