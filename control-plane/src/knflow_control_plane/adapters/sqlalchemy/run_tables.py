"""The run tables: runs, their steps and attempts, map steps and their items, the event waits' shapes,
the files runs wrote, the outbox of lifecycle events written with each change, and the named leases
(one holder across replicas, e.g. the outbox relay's)."""

from __future__ import annotations

import sqlalchemy as sa

from .table_types import Json, Name, Project, Time, metadata

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("project", Project, nullable=False),
    sa.Column("workflow", Name, nullable=False),
    sa.Column("workflow_version", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("inputs", Json, nullable=False),
    sa.Column("result_binding", Json, nullable=True),
    sa.Column("result", Json, nullable=True),
    sa.Column("error", Json, nullable=True),
    sa.Column("trigger", Json, nullable=False),
    sa.Column("remaining", sa.Integer, nullable=False),
    sa.Column("trace_id", sa.String(32), nullable=True),
    sa.Column("deadline", Time, nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("finished_at", Time, nullable=True),
    # a child run's parent run and step (a sub-workflow step); NULL for every other run
    sa.Column("parent_run_id", sa.String(40), nullable=True),
    sa.Column("parent_step", Name, nullable=True),
    # Concurrency (``domain/concurrency.py``), set only for runs of a workflow with a concurrency limit: the
    # queue's key, the limit it was made under, its priority, when it entered the queue, and its timeout
    # (its deadline counts from when it starts).
    sa.Column("concurrency_key", sa.Text, nullable=True),
    sa.Column("concurrency_limit", sa.Integer, nullable=True),
    sa.Column("priority", sa.Integer, nullable=True),
    sa.Column("queued_at", Time, nullable=True),
    sa.Column("run_timeout", Time, nullable=True),
    # Bumped by every transition of the run on Postgres (``dialect_writes.PERSIST_PG``): a completion
    # planned from a read outside its transaction is written only if it is still the one read.
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index(None, "project", "id"),
    sa.Index(None, "project", "workflow", "id"),
    sa.Index(None, "project", "status", "id"),
    sa.Index(
        "ix_runs_concurrency",
        "concurrency_key",
        "status",
        postgresql_where=sa.text("concurrency_key IS NOT NULL"),
        sqlite_where=sa.text("concurrency_key IS NOT NULL"),
    ),
    sa.Index(
        "ix_runs_queued",
        "concurrency_key",
        postgresql_where=sa.text("status = 'queued'"),
        sqlite_where=sa.text("status = 'queued'"),
    ),
    sa.Index(
        "ix_runs_running_deadline",
        "deadline",
        postgresql_where=sa.text("status = 'running'"),
        sqlite_where=sa.text("status = 'running'"),
    ),
    sa.Index(
        "ix_runs_parent",
        "parent_run_id",
        postgresql_where=sa.text("parent_run_id IS NOT NULL"),
        sqlite_where=sa.text("parent_run_id IS NOT NULL"),
    ),
    sa.Index(  # child runs still going: the poll's look for children nobody waits for (migration 0014)
        "ix_runs_children_going",
        "parent_run_id",
        postgresql_where=sa.text("parent_run_id IS NOT NULL AND status IN ('running', 'queued')"),
        sqlite_where=sa.text("parent_run_id IS NOT NULL AND status IN ('running', 'queued')"),
    ),
)

steps = sa.Table(
    "steps",
    metadata,
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", Name, primary_key=True),
    sa.Column("action", Name, nullable=False),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("inputs", Json, nullable=False),  # bindings (spec form)
    sa.Column("upstream", Json, nullable=False),
    sa.Column("dependents", Json, nullable=False),
    sa.Column("waiting_on", sa.Integer, nullable=False),
    sa.Column("policy", Json, nullable=False),
    sa.Column("condition", sa.Text, nullable=True),  # the step's ``when`` (knflow.dev/v2), decided as it starts
    sa.Column("wait", Json, nullable=True),  # what a step running no action waits for (an approval)
    sa.Column("wake_at", Time, nullable=True),  # a waiting step's deadline
    sa.Column("wait_key", sa.String(40), nullable=True),  # an event wait's lookup key (domain/event_waits.py)
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("budget_start", sa.Integer, nullable=False, server_default="0"),
    sa.Column("infra_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("ready_at", Time, nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", Time, nullable=True),
    sa.Column("outputs", Json, nullable=True),
    sa.Column("error", Json, nullable=True),
    sa.Column("started_at", Time, nullable=True),
    sa.Column("finished_at", Time, nullable=True),
    # a sub-workflow step's latest child run; written only when it starts one (``children.start_child``)
    sa.Column("child_run_id", sa.String(40), nullable=True),
    # Only the rows a worker looks for are indexed: ready ones by time, running ones by lease.
    sa.Index(
        "ix_steps_ready",
        "ready_at",
        postgresql_where=sa.text("status = 'ready'"),
        sqlite_where=sa.text("status = 'ready'"),
    ),
    sa.Index(
        "ix_steps_waiting",
        "wake_at",
        postgresql_where=sa.text("status = 'waiting'"),
        sqlite_where=sa.text("status = 'waiting'"),
    ),
    sa.Index(
        "ix_steps_throttled",
        "action",
        postgresql_where=sa.text("status = 'throttled'"),
        sqlite_where=sa.text("status = 'throttled'"),
    ),
    sa.Index(
        "ix_steps_wait_key",
        "wait_key",
        postgresql_where=sa.text("status = 'waiting'"),
        sqlite_where=sa.text("status = 'waiting'"),
    ),
    sa.Index(
        "ix_steps_leases",
        "lease_expires_at",
        postgresql_where=sa.text("status = 'running'"),
        sqlite_where=sa.text("status = 'running'"),
    ),
    sa.Index(  # running sub-workflow steps only: the poll's look for children that ended (migration 0014)
        "ix_steps_child",
        "child_run_id",
        postgresql_where=sa.text("child_run_id IS NOT NULL AND status = 'running'"),
        sqlite_where=sa.text("child_run_id IS NOT NULL AND status = 'running'"),
    ),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),  # {run_id}/{step}/{number}: the invoke's ce-id
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("step", Name, nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("inputs", Json, nullable=True),
    sa.Column("outputs", Json, nullable=True),
    sa.Column("error", Json, nullable=True),
    sa.Column("logs", sa.Text, nullable=False, server_default=""),
    sa.Column("worker", sa.String(64), nullable=True),
    sa.Column("started_at", Time, nullable=True),
    sa.Column("finished_at", Time, nullable=True),
    sa.Index(None, "run_id", "step", "number"),
)

# A map step's progress (``knflow.dev/v2``): its counts, kept as its items move, so that deciding what to
# launch next and showing the step read one row, never its items.
maps = sa.Table(
    "maps",
    metadata,
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("step", Name, primary_key=True),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("max_parallel", sa.Integer, nullable=False),
    sa.Column("on_error", sa.String(16), nullable=False),
    sa.Column("constants", Json, nullable=False),  # the inputs every item gets whole
    sa.Column("pending", sa.Integer, nullable=False),
    sa.Column("running", sa.Integer, nullable=False),
    sa.Column("succeeded", sa.Integer, nullable=False),
    sa.Column("failed", sa.Integer, nullable=False),
    sa.Column("skipped", sa.Integer, nullable=False),
)

# One row per item of a map step, written in bulk as the map starts: never a row of ``steps`` each.
map_items = sa.Table(
    "map_items",
    metadata,
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("step", Name, primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("inputs", Json, nullable=False),  # the item's own values of the mapped inputs
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("budget_start", sa.Integer, nullable=False, server_default="0"),
    sa.Column("infra_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("ready_at", Time, nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", Time, nullable=True),
    sa.Column("output", Json, nullable=True),
    sa.Column("error", Json, nullable=True),
    sa.Column("logs", sa.Text, nullable=False, server_default=""),
    sa.Column("started_at", Time, nullable=True),
    sa.Column("finished_at", Time, nullable=True),
    # the next items to launch and a page of one status, both in index order
    sa.Index("ix_map_items_status", "run_id", "step", "status", "idx"),
    sa.Index(
        "ix_map_items_leases",
        "lease_expires_at",
        postgresql_where=sa.text("status = 'running'"),
        sqlite_where=sa.text("status = 'running'"),
    ),
)

#: the shapes (type, matched paths) of the event waits of each project, one row each: what an arriving
#: event computes its lookup keys for (domain/event_waits.py)
event_wait_shapes = sa.Table(
    "event_wait_shapes",
    metadata,
    sa.Column("type", sa.String(200), primary_key=True),
    sa.Column("project", Project, primary_key=True),
    sa.Column("shape", sa.Text, primary_key=True),
)

# Lifecycle events written in the same transaction as the state change they describe, relayed later.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.Column("step", Name, nullable=True),
    sa.Column("data", Json, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("published_at", Time, nullable=True),
    sa.Index(
        "ix_outbox_unpublished",
        "id",
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    ),
)

# Named leases with an expiry: one holder at a time across replicas (the outbox relay), taken over
# when the holder stops renewing.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", Time, nullable=False),
)

# Files of runs and their lineage: the run, step and attempt that wrote each (all three NULL for a file
# uploaded as an input: runs name it in their inputs). `expired_at`: when the retention policy deleted it.
files = sa.Table(
    "files",
    metadata,
    sa.Column("key", sa.String(1024), primary_key=True),
    sa.Column("project", Project, nullable=False),
    sa.Column("run_id", sa.String(40), nullable=True),
    sa.Column("step", Name, nullable=True),
    sa.Column("attempt", sa.Integer, nullable=True),
    sa.Column("field", sa.String(300), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expired_at", Time, nullable=True),
    sa.Index(None, "run_id"),
    sa.Index(
        "ix_files_live_created",
        "project",
        "created_at",
        postgresql_where=sa.text("expired_at IS NULL"),
        sqlite_where=sa.text("expired_at IS NULL"),
    ),
)
