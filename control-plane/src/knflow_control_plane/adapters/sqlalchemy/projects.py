"""Projects in the run store: created, listed with what they hold, and deleted with everything of theirs."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from .tables import (
    action_versions,
    api_keys,
    attempts,
    deployments,
    event_triggers,
    files,
    projects,
    rejected_events,
    routes,
    runs,
    schedules,
    secrets,
    steps,
    trigger_events,
    workflow_versions,
    workflows,
)
from .triggers import bump_generation, insert_ignoring

#: Deployments that still serve: a project holding one is not deleted unless forced (undeployed first).
DEPLOYED = ("ready", "deploying")
#: Every table with a ``project`` column, in an order that deletes dependents before what they name.
_OWNED = (
    routes,
    event_triggers,
    schedules,
    deployments,
    workflow_versions,
    workflows,
    action_versions,
    trigger_events,
    rejected_events,
    files,
    api_keys,
    secrets,
)


def create_project(conn: Connection, project: str, now: float) -> bool:
    """Create ``project``; False when it exists already (replicas starting together each create
    ``default``: a look before the insert let both insert, and one failed its start on the key)."""
    inserted = conn.execute(insert_ignoring(conn, projects).values(id=project, created_at=now))
    return bool(inserted.rowcount)


def list_projects(conn: Connection, only: str | None = None) -> list[dict[str, Any]]:
    """Every project (or just ``only``), by name: ``name``, ``created_at``, ``workflows`` (how many) and
    ``deployed`` (the names of its workflows deployed now)."""
    query = sa.select(projects.c.id, projects.c.created_at).order_by(projects.c.id)
    if only is not None:
        query = query.where(projects.c.id == only)
    found = {
        row.id: {"name": row.id, "created_at": row.created_at, "workflows": 0, "deployed": []}
        for row in conn.execute(query)
    }
    if not found:
        return []
    counts = conn.execute(
        sa.select(workflows.c.project, sa.func.count())
        .where(workflows.c.project.in_(list(found)))
        .group_by(workflows.c.project)
    )
    for project, count in counts:
        found[project]["workflows"] = int(count)
    deployed = conn.execute(
        sa.select(deployments.c.project, deployments.c.workflow)
        .where(deployments.c.project.in_(list(found)), deployments.c.status.in_(DEPLOYED))
        .order_by(deployments.c.workflow)
    )
    for project, workflow in deployed:
        found[project]["deployed"].append(workflow)
    return list(found.values())


def delete_project(conn: Connection, project: str) -> bool:
    """Delete ``project`` and every record of it (runs with their steps and attempts,
    workflows, actions, triggers, files' records, keys, secrets, rejected events); False if there was none.

    The objects of its files stay in the object store: their records are what links them to the project.
    """
    if conn.execute(sa.select(projects.c.id).where(projects.c.id == project)).first() is None:
        return False
    its_runs = sa.select(runs.c.id).where(runs.c.project == project).scalar_subquery()
    for table in (attempts, steps):
        conn.execute(table.delete().where(table.c.run_id.in_(its_runs)))
    conn.execute(runs.delete().where(runs.c.project == project))
    for table in _OWNED:
        conn.execute(table.delete().where(table.c.project == project))
    bump_generation(conn)  # its event triggers went with it
    conn.execute(projects.delete().where(projects.c.id == project))
    return True
