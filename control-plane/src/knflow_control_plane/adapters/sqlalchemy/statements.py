"""The hot path's SQL, built once: a statement object reused with bind parameters skips SQLAlchemy's
per-call expression building and cache-key work (most of a transition's cost when built inline)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ...domain.model import RunStatus, StepStatus
from .raw import compiled_once
from .tables import attempts, outbox, runs, steps, trigger_events, trigger_generation

RUNNING, READY, PENDING, SUCCEEDED = (
    StepStatus.RUNNING.value,
    StepStatus.READY.value,
    StepStatus.PENDING.value,
    StepStatus.SUCCEEDED.value,
)
#: What transitions read of a run (``domain.transitions.RunState``).
RUN_STATE = ("id", "status", "inputs", "result_binding", "trace_id")
_run_state = sa.select(*(runs.c[c] for c in RUN_STATE)).where(runs.c.id == sa.bindparam("b_run"))
# A run asked for by the API: only when it belongs to the caller's project (a transition changes runs
# of every project; a request must never reach another's, nor learn that it exists).
_project_run_state = _run_state.where(runs.c.project == sa.bindparam("b_project"))
LOCK_PROJECT_RUN = {"sqlite": _project_run_state, "postgresql": _project_run_state.with_for_update()}
# Several runs at once, locked in the order of their ids (Postgres locks the rows as the sort emits
# them): two transactions locking overlapping sets never wait for each other in a cycle.
_runs_state = (
    sa.select(*(runs.c[c] for c in RUN_STATE))
    .where(runs.c.id.in_(sa.bindparam("b_runs", expanding=True)))
    .order_by(runs.c.id)
)
LOCK_RUNS = {
    "sqlite": _runs_state,
    "postgresql": _runs_state.with_for_update(),
    "postgresql-skip": _runs_state.with_for_update(skip_locked=True),
}

INSERT_ATTEMPT = attempts.insert()

INSERT_OUTBOX = outbox.insert()
INSERT_RUN = runs.insert()
INSERT_STEPS = steps.insert()

READY_RUNS = (
    sa.select(steps.c.run_id)
    .where(steps.c.status == READY, steps.c.ready_at <= sa.bindparam("now"))
    .order_by(steps.c.ready_at)
    .limit(sa.bindparam("room"))
)

INSERT_TRIGGER_EVENT = {
    "postgresql": postgresql.insert(trigger_events).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(trigger_events).on_conflict_do_nothing(),
}

EXISTING_RUN = (
    sa.select(runs.c.id, runs.c.status)
    .join(trigger_events, trigger_events.c.run_id == runs.c.id)
    .where(
        trigger_events.c.project == sa.bindparam("b_project"),
        trigger_events.c.source == sa.bindparam("b_source"),
        trigger_events.c.event_id == sa.bindparam("b_event"),
        trigger_events.c.workflow == sa.bindparam("b_workflow"),
    )
)

# Reads on every poll and by every waiter of a run (``sqlalchemy_reads``, ``sqlalchemy_recovery``).
RUN_STATUS = sa.select(runs.c.status, runs.c.result, runs.c.error).where(runs.c.id == sa.bindparam("b_run"))
FINISHED_AMONG = sa.select(runs.c.id).where(
    runs.c.id.in_(sa.bindparam("ids", expanding=True)),
    runs.c.status != RunStatus.RUNNING.value,
    runs.c.status != RunStatus.QUEUED.value,
)
# The live feed's project check (``GET /v1/stream``): which of these runs belong to a project.
IN_PROJECT = sa.select(runs.c.id).where(
    runs.c.id.in_(sa.bindparam("ids", expanding=True)), runs.c.project == sa.bindparam("project")
)
NEXT_READY = sa.select(sa.func.min(steps.c.ready_at)).where(steps.c.status == READY)
NEXT_LEASE_EXPIRY = sa.select(sa.func.min(steps.c.lease_expires_at)).where(steps.c.status == RUNNING)
NEXT_WAKE = sa.select(sa.func.min(steps.c.wake_at)).where(steps.c.status == StepStatus.WAITING.value)

# The lifecycle outbox's relay (``sqlalchemy_triggers``): every batch of transitions is relayed.
TAKE_OUTBOX = (
    sa.select(outbox).where(outbox.c.published_at.is_(None)).order_by(outbox.c.id).limit(sa.bindparam("limit"))
)
MARK_PUBLISHED = (
    outbox.update().where(outbox.c.id.in_(sa.bindparam("ids", expanding=True))).values(published_at=sa.bindparam("now"))
)
#: Read after trigger events arrive (``service/trigger_consumer.py``): as often as events come, so raw.
TRIGGERS_GENERATION = sa.select(trigger_generation.c.generation)

compiled_once(globals())  # every statement above, once per dialect (``raw``)
