"""Actions, workflows, deployments, HTTP routes and API keys: the store's catalogue, as SQL.

Each public function is one transaction (see ``sqlalchemy_database``).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from ...domain.catalogue import ActionVersion, Deployment, Route, VersionEntry, WorkflowEntry, WorkflowVersion
from .tables import action_versions, deployments, projects, routes, workflow_versions, workflows


def ensure_project(conn: Connection, project: str, now: float) -> None:
    """Create ``project`` unless it exists."""
    if conn.execute(sa.select(projects.c.id).where(projects.c.id == project)).first() is None:
        conn.execute(projects.insert().values(id=project, created_at=now))


def put_action_version(
    conn: Connection, project: str, spec: dict[str, Any], code: bytes | None, code_digest: str | None, now: float
) -> bool:
    """Store an action version unless it exists; True when it is new."""
    key = (
        action_versions.c.project == project,
        action_versions.c.name == spec["name"],
        action_versions.c.version == spec["version"],
    )
    if conn.execute(sa.select(action_versions.c.version).where(*key)).first() is not None:
        if code is not None:
            conn.execute(
                action_versions.update()
                .where(*key, action_versions.c.code.is_(None))
                .values(code=code, code_digest=code_digest, updated_at=now)
            )
        return False
    conn.execute(
        action_versions.insert().values(
            project=project,
            name=spec["name"],
            version=spec["version"],
            spec=spec,
            code=code,
            code_digest=code_digest,
            created_at=now,
            updated_at=now,
        )
    )
    return True


def get_action_version(conn: Connection, project: str, name: str, version: str | None) -> ActionVersion | None:
    """One action version (the newest when ``version`` is None), code included."""
    query = sa.select(action_versions).where(action_versions.c.project == project, action_versions.c.name == name)
    if version is not None:
        query = query.where(action_versions.c.version == version)
    row = conn.execute(query.order_by(action_versions.c.created_at.desc()).limit(1)).first()
    return _record(ActionVersion, row._mapping) if row else None


def set_build(
    conn: Connection,
    project: str,
    name: str,
    version: str,
    status: str,
    logs: str,
    artifact: dict[str, Any] | None,
    now: float,
) -> None:
    """Record a build's outcome on its action version."""
    conn.execute(
        action_versions.update()
        .where(
            action_versions.c.project == project, action_versions.c.name == name, action_versions.c.version == version
        )
        .values(build_status=status, build_logs=logs, artifact=artifact, updated_at=now)
    )


def list_actions(conn: Connection, project: str) -> list[ActionVersion]:
    """Every action version of a project (``code`` left out: None), newest first."""
    cols = [c for c in action_versions.c if c.name != "code"]
    rows = conn.execute(
        sa.select(*cols)
        .where(action_versions.c.project == project)
        .order_by(action_versions.c.name, action_versions.c.created_at.desc())
    )
    return [_record(ActionVersion, r._mapping, code=None) for r in rows]


def delete_action(conn: Connection, project: str, name: str) -> int:
    """Delete every version of an action; returns how many."""
    return int(
        conn.execute(
            action_versions.delete().where(action_versions.c.project == project, action_versions.c.name == name)
        ).rowcount
    )


def put_workflow(conn: Connection, project: str, spec: dict[str, Any], version: str, now: float) -> bool:
    """Store a workflow version and make it the latest; True when the version is new."""
    name = spec["name"]
    exists = (
        conn.execute(
            sa.select(workflow_versions.c.version).where(
                workflow_versions.c.project == project,
                workflow_versions.c.name == name,
                workflow_versions.c.version == version,
            )
        ).first()
        is not None
    )
    if not exists:
        conn.execute(
            workflow_versions.insert().values(project=project, name=name, version=version, spec=spec, created_at=now)
        )
    updated = conn.execute(
        workflows.update()
        .where(workflows.c.project == project, workflows.c.name == name)
        .values(latest_version=version, updated_at=now)
    )
    if updated.rowcount == 0:
        conn.execute(
            workflows.insert().values(
                project=project, name=name, latest_version=version, created_at=now, updated_at=now
            )
        )
    return not exists


def get_workflow(conn: Connection, project: str, name: str, version: str | None) -> WorkflowVersion | None:
    """A workflow version (the latest when ``version`` is None) with its spec."""
    if version is None:
        version = conn.execute(
            sa.select(workflows.c.latest_version).where(workflows.c.project == project, workflows.c.name == name)
        ).scalar()
        if version is None:
            return None
    row = conn.execute(
        sa.select(workflow_versions).where(
            workflow_versions.c.project == project,
            workflow_versions.c.name == name,
            workflow_versions.c.version == version,
        )
    ).first()
    return _record(WorkflowVersion, row._mapping) if row else None


def list_workflows(conn: Connection, project: str) -> list[WorkflowEntry]:
    """Workflows with their latest version and deployment state."""
    query = (
        sa.select(workflows, deployments.c.status.label("deployment"), deployments.c.version.label("deployed_version"))
        .select_from(
            workflows.outerjoin(
                deployments,
                sa.and_(deployments.c.project == workflows.c.project, deployments.c.workflow == workflows.c.name),
            )
        )
        .where(workflows.c.project == project)
        .order_by(workflows.c.name)
    )
    return [_record(WorkflowEntry, r._mapping) for r in conn.execute(query)]


def workflow_history(conn: Connection, project: str, name: str) -> list[VersionEntry]:
    """Every version of a workflow, newest first."""
    rows = conn.execute(
        sa.select(workflow_versions.c.version, workflow_versions.c.created_at)
        .where(workflow_versions.c.project == project, workflow_versions.c.name == name)
        .order_by(workflow_versions.c.created_at.desc())
    )
    return [VersionEntry(r.version, r.created_at) for r in rows]


def delete_workflow(conn: Connection, project: str, name: str) -> bool:
    """Delete a workflow's definition (runs stay); True if it existed."""
    conn.execute(
        workflow_versions.delete().where(workflow_versions.c.project == project, workflow_versions.c.name == name)
    )
    return bool(
        conn.execute(workflows.delete().where(workflows.c.project == project, workflows.c.name == name)).rowcount
    )


def set_deployment(
    conn: Connection,
    project: str,
    workflow: str,
    version: str,
    status: str,
    error: str | None,
    now: float,
    source: str | None = None,
) -> None:
    """Create or update a workflow's deployment record (``source``, when given, replaces the one stored)."""
    key = (deployments.c.project == project, deployments.c.workflow == workflow)
    values: dict[str, Any] = {"version": version, "status": status, "error": error, "updated_at": now}
    if source is not None:
        values["source"] = source
    updated = conn.execute(deployments.update().where(*key).values(**values))
    if updated.rowcount == 0:
        conn.execute(
            deployments.insert().values(
                project=project,
                workflow=workflow,
                version=version,
                status=status,
                error=error,
                created_at=now,
                updated_at=now,
                source=source,
            )
        )


def get_deployment(conn: Connection, project: str, workflow: str) -> Deployment | None:
    """A workflow's deployment record."""
    row = conn.execute(
        sa.select(deployments).where(deployments.c.project == project, deployments.c.workflow == workflow)
    ).first()
    return _record(Deployment, row._mapping) if row else None


def replace_routes(
    conn: Connection, project: str, workflow: str, version: str, triggers: list[dict[str, Any]]
) -> list[str]:
    """Make ``triggers`` (HTTP ones) the routes of ``workflow``; returns paths taken by another workflow."""
    conn.execute(routes.delete().where(routes.c.project == project, routes.c.workflow == workflow))
    clashes = []
    for trigger in triggers:
        taken = conn.execute(
            # a hook path is the plane's, whichever project holds it (``/hooks/{path}`` names no project)
            sa.select(routes.c.project, routes.c.workflow).where(
                routes.c.method == trigger["method"], routes.c.path == trigger["path"]
            )
        ).first()
        if taken is not None:
            holder = taken.workflow if taken.project == project else "another project"
            clashes.append(f"{trigger['method']} {trigger['path']} (used by {holder})")
            continue
        conn.execute(
            routes.insert().values(
                project=project,
                method=trigger["method"],
                path=trigger["path"],
                workflow=workflow,
                version=version,
                trigger=trigger,
            )
        )
    return clashes


def delete_routes(conn: Connection, project: str, workflow: str) -> None:
    """Remove every route of a workflow."""
    conn.execute(routes.delete().where(routes.c.project == project, routes.c.workflow == workflow))


def find_route(conn: Connection, project: str | None, method: str, path: str) -> Route | None:
    """The deployed workflow an HTTP trigger request goes to (in any project: None), with its ``project``."""
    query = sa.select(routes).where(routes.c.method == method, routes.c.path == path)
    row = conn.execute(query if project is None else query.where(routes.c.project == project)).first()
    return _record(Route, row._mapping) if row else None


def routes_for_path(conn: Connection, project: str | None, path: str) -> list[str]:
    """Methods served at ``path`` (to tell 405 from 404), in ``project`` (in any: None)."""
    query = sa.select(routes.c.method).where(routes.c.path == path)
    return list(conn.execute(query if project is None else query.where(routes.c.project == project)).scalars())


_Record = TypeVar("_Record", ActionVersion, WorkflowVersion, WorkflowEntry, Deployment, Route)


def _record(kind: type[_Record], row: RowMapping, **given: Any) -> _Record:
    """``kind`` from the row's columns of the same names (``given`` for the ones the query left out)."""
    return kind(**{f.name: given[f.name] if f.name in given else row[f.name] for f in fields(kind)})
