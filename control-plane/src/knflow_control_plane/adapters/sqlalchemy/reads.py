"""Reading runs for the API: one run with its steps and attempts, and filtered, paginated lists."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...domain.map_views import is_map
from ...domain.records import AttemptView, Page, QueuePlace, RunFilter, RunView, StepView
from . import map_reads
from . import statements as st
from .concurrency import queue_place
from .raw import AnyConnection
from .tables import attempts, projects, runs, steps


def _run_view(row: Any, step_views: list[StepView] | None = None, queue: QueuePlace | None = None) -> RunView:
    return RunView(
        run_id=row.id,
        project=row.project,
        workflow=row.workflow,
        workflow_version=row.workflow_version,
        status=row.status,
        inputs=row.inputs,
        result=row.result,
        error=row.error,
        trigger=row.trigger,
        trace_id=row.trace_id,
        created_at=row.created_at,
        finished_at=row.finished_at,
        steps=step_views or [],
        waiting=[s.name for s in step_views or [] if s.status == "waiting"],
        parent_run_id=row.parent_run_id,
        parent_step=row.parent_step,
        queue=queue,
    )


def get_run(conn: Connection, run_id: str, project: str | None = None) -> RunView | None:
    """A run with its steps and every attempt, or None."""
    query = sa.select(runs).where(runs.c.id == run_id)
    if project is not None:
        query = query.where(runs.c.project == project)
    row = conn.execute(query).first()
    if row is None:
        return None
    by_step: dict[str, list[AttemptView]] = defaultdict(list)
    for a in conn.execute(sa.select(attempts).where(attempts.c.run_id == run_id).order_by(attempts.c.number)):
        by_step[a.step].append(
            AttemptView(
                a.id, a.number, a.status, a.inputs, a.outputs, a.error, a.logs, a.worker, a.started_at, a.finished_at
            )
        )
    step_rows = conn.execute(sa.select(steps).where(steps.c.run_id == run_id)).all()
    counts = map_reads.counts_of(conn, run_id, [s.name for s in step_rows if is_map(s.wait)])
    views = [
        StepView(
            s.name,
            s.action,
            s.version,
            s.status,
            by_step.get(s.name, []),
            s.outputs,
            s.error,
            s.started_at,
            s.finished_at,
            s.ready_at if s.status == "ready" and s.attempts else None,
            s.wait,
            s.wake_at if s.status == "waiting" else None,
            s.child_run_id,
            counts.get(s.name),
        )
        for s in step_rows
    ]
    views.sort(key=lambda v: (v.started_at is None, v.started_at or 0.0, v.name))
    return _run_view(row, views, queue_place(conn, row))


def run_status(conn: AnyConnection, run_id: str) -> tuple[str, Any, Any] | None:
    """(status, result, error) of a run, cheaply, or None (a prebuilt statement: waiters poll this)."""
    row = conn.execute(st.RUN_STATUS, {"b_run": run_id}).first()
    return (row.status, row.result, row.error) if row else None


def finished_among(conn: AnyConnection, run_ids: list[str]) -> list[str]:
    """Which of these runs have finished (one statement for every run some request waits on)."""
    return list(conn.execute(st.FINISHED_AMONG, {"ids": run_ids}).scalars().all())


def in_project(conn: AnyConnection, run_ids: list[str], project: str) -> list[str]:
    """Which of these runs belong to ``project``."""
    return list(conn.execute(st.IN_PROJECT, {"ids": run_ids, "project": project}).scalars().all())


def list_runs(conn: Connection, where: RunFilter) -> Page:
    """Runs, newest first, filtered; run ids are time-ordered, so the cursor is the last id seen."""
    query = sa.select(runs).where(runs.c.project == where.project)
    if where.workflow:
        query = query.where(runs.c.workflow == where.workflow)
    if where.status:
        query = query.where(runs.c.status == where.status)
    if where.since is not None:
        query = query.where(runs.c.created_at >= where.since)
    if where.until is not None:
        query = query.where(runs.c.created_at < where.until)
    if where.cursor:
        query = query.where(runs.c.id < where.cursor)
    if where.waiting is not None:
        holds = sa.exists().where(steps.c.run_id == runs.c.id, steps.c.status == "waiting")
        query = query.where(holds if where.waiting else ~holds)
    if where.top_level:
        query = query.where(runs.c.parent_run_id.is_(None))
    if where.parent_run_id is not None:
        query = query.where(runs.c.parent_run_id == where.parent_run_id)
    rows = conn.execute(query.order_by(runs.c.id.desc()).limit(where.limit + 1)).all()
    page = _with_waiting(conn, [_run_view(r, queue=queue_place(conn, r)) for r in rows[: where.limit]])
    return Page(page, page[-1].run_id if len(rows) > where.limit else None)


def _with_waiting(conn: Connection, page: list[RunView]) -> list[RunView]:
    """The page's runs with the names of their waiting steps: one statement by primary key for the page's
    running runs (a list shows which runs wait on a person or a timer without reading each run)."""
    running = [r.run_id for r in page if r.status == "running"]
    if not running:
        return page
    rows = conn.execute(
        sa.select(steps.c.run_id, steps.c.name).where(steps.c.run_id.in_(running), steps.c.status == "waiting")
    ).all()
    waiting: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        waiting[row.run_id].append(row.name)
    return [replace(r, waiting=sorted(waiting[r.run_id])) if r.run_id in waiting else r for r in page]


def probe_writable(conn: Connection, project: str) -> None:
    """Fail unless the store can take a write now: a row lock on the project (Postgres refuses it in a
    read-only transaction, a replica's included; nothing waits: ``SKIP LOCKED``), in a write transaction
    (SQLite's ``BEGIN IMMEDIATE`` fails on a database it cannot write)."""
    conn.execute(sa.select(projects.c.id).where(projects.c.id == project).with_for_update(skip_locked=True))
