"""The run store's tables (SQLAlchemy Core). Alembic migrations are generated from this metadata.

This module is the schema's one import path: importing it registers every table in ``metadata``. The
tables live by concept in ``run_tables.py``, ``catalogue_tables.py`` and ``trigger_tables.py``, over the
shared ``metadata`` and column types of ``table_types.py``. Every record belongs to a project.
"""

from __future__ import annotations

from .catalogue_tables import (
    action_versions,
    api_keys,
    deployments,
    projects,
    routes,
    secrets,
    workflow_versions,
    workflows,
)
from .run_tables import attempts, event_wait_shapes, files, leases, map_items, maps, outbox, runs, steps
from .table_types import Json, Name, Project, Time, metadata
from .trigger_tables import event_triggers, rejected_events, schedules, trigger_events, trigger_generation

__all__ = [
    "Json",
    "Name",
    "Project",
    "Time",
    "action_versions",
    "api_keys",
    "attempts",
    "deployments",
    "event_triggers",
    "event_wait_shapes",
    "files",
    "leases",
    "map_items",
    "maps",
    "metadata",
    "outbox",
    "projects",
    "rejected_events",
    "routes",
    "runs",
    "schedules",
    "secrets",
    "steps",
    "trigger_events",
    "trigger_generation",
    "workflow_versions",
    "workflows",
]
