"""Rejected trigger events, as SQL. Each public function is one transaction."""

from __future__ import annotations

from dataclasses import asdict

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...domain.rejections import RejectedEvent
from .tables import rejected_events
from .triggers import insert_ignoring


def record_rejected(conn: Connection, rejected: list[RejectedEvent]) -> None:
    """Store ``rejected``; an event already recorded for the same workflow (a redelivery) is kept as it was."""
    if not rejected:
        return
    rows = [{**asdict(r), "workflow": r.workflow or ""} for r in rejected]
    for row in rows:
        del row["id"]
    conn.execute(insert_ignoring(conn, rejected_events), rows)


def list_rejected(
    conn: Connection, project: str, workflow: str | None, limit: int, before: int | None
) -> list[RejectedEvent]:
    """The project's rejected events, newest first: at most ``limit``, with ids below ``before`` if given."""
    query = sa.select(rejected_events).where(rejected_events.c.project == project)
    if workflow is not None:
        query = query.where(rejected_events.c.workflow == workflow)
    if before is not None:
        query = query.where(rejected_events.c.id < before)
    rows = conn.execute(query.order_by(rejected_events.c.id.desc()).limit(limit))
    return [RejectedEvent(**{**dict(r._mapping), "workflow": r.workflow or None}) for r in rows]
