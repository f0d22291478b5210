"""The hot path's SQL, built once: a statement object reused with bind parameters skips SQLAlchemy's
per-call expression building and cache-key work (most of a transition's cost when built inline)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ...domain.model import AttemptStatus, RunStatus, StepStatus
from .tables import Json, attempts, outbox, runs, steps, trigger_events

RUNNING, READY, PENDING, SUCCEEDED = (
    StepStatus.RUNNING.value,
    StepStatus.READY.value,
    StepStatus.PENDING.value,
    StepStatus.SUCCEEDED.value,
)
#: What transitions read of a run (``domain.transitions.RunState``).
RUN_STATE = ("id", "status", "inputs", "result_binding", "trace_id")
_run_state = sa.select(*(runs.c[c] for c in RUN_STATE)).where(runs.c.id == sa.bindparam("b_run"))
LOCK_RUN = {
    "sqlite": _run_state,
    "postgresql": _run_state.with_for_update(),
    "postgresql-skip": _run_state.with_for_update(skip_locked=True),
}
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

FINISH_ATTEMPT = (
    attempts.update()
    .where(attempts.c.id == sa.bindparam("attempt_id"), attempts.c.status == AttemptStatus.RUNNING.value)
    .values(
        status=sa.bindparam("new_status"),
        outputs=sa.bindparam("new_outputs", type_=Json),
        error=sa.bindparam("new_error", type_=Json),
        logs=sa.bindparam("new_logs"),
        finished_at=sa.bindparam("now"),
    )
)

STEP_SUCCEEDED = (
    steps.update()
    .where(steps.c.run_id == sa.bindparam("b_run"), steps.c.name == sa.bindparam("step"))
    .values(
        status=SUCCEEDED,
        outputs=sa.bindparam("new_outputs", type_=Json),
        error=None,
        finished_at=sa.bindparam("now"),
        lease_owner=None,
        lease_expires_at=None,
    )
    .returning(steps.c.dependents)
)


def _if_ready(column: sa.Column[Any]) -> sa.Label[Any]:
    """``column`` in a RETURNING clause (the row after the update) when the step became ready, else NULL."""
    return sa.case((steps.c.status == READY, column), else_=sa.null()).label(column.name)


# One fewer upstream to wait for; ready when it was the last (also in ``sqlalchemy_statements_pg.SUCCEED_PG``).
RELEASE_VALUES = {
    "waiting_on": steps.c.waiting_on - 1,
    "status": sa.case((steps.c.waiting_on == 1, READY), else_=steps.c.status),
    "ready_at": sa.case((steps.c.waiting_on == 1, sa.bindparam("now")), else_=steps.c.ready_at),
}
RELEASE_DEPENDENTS = (
    steps.update()
    .where(
        steps.c.run_id == sa.bindparam("b_run"),
        steps.c.name.in_(sa.bindparam("names", expanding=True)),
        steps.c.status == PENDING,
    )
    .values(**RELEASE_VALUES)
    # Everything a claim needs, so that claiming what became ready takes no second query; the large
    # columns only of the steps that did (a fan-in step still waiting has as many bindings and upstream
    # names as it has inputs: returned on each of its upstream's completions, their decoding was O(n^2)).
    .returning(
        steps.c.name,
        steps.c.status,
        steps.c.action,
        steps.c.version,
        *(_if_ready(column) for column in (steps.c.inputs, steps.c.upstream)),
        steps.c.attempts,
        steps.c.policy,
    )
)

DECREMENT_REMAINING = (
    runs.update()
    .where(runs.c.id == sa.bindparam("b_run"))
    .values(remaining=runs.c.remaining - 1)
    .returning(runs.c.remaining)
)

# What a claim reads of a ready step.
_CLAIMED = ("name", "action", "version", "inputs", "upstream", "attempts", "policy")
READY_STEPS = (
    sa.select(*(steps.c[c] for c in _CLAIMED))
    .where(
        steps.c.run_id == sa.bindparam("b_run"),
        steps.c.name.in_(sa.bindparam("names", expanding=True)),
        steps.c.status == READY,
        steps.c.ready_at <= sa.bindparam("now"),
    )
    .limit(sa.bindparam("room"))
)

# The ready steps of several runs (claim_ready), by run and name: everything a claim needs.
READY_STEPS_OF_RUNS = (
    sa.select(steps.c.run_id, *(steps.c[c] for c in _CLAIMED))
    .where(
        steps.c.run_id.in_(sa.bindparam("b_runs", expanding=True)),
        steps.c.status == READY,
        steps.c.ready_at <= sa.bindparam("now"),
    )
    .order_by(steps.c.run_id, steps.c.name)
)

STEP_OUTPUTS = sa.select(steps.c.name, steps.c.outputs).where(
    steps.c.run_id == sa.bindparam("b_run"),
    steps.c.name.in_(sa.bindparam("names", expanding=True)),
    steps.c.status == SUCCEEDED,
)

# A claimed step runs, leased to the claiming worker (also in ``sqlalchemy_statements_pg.WRITE_PG``).
START_VALUES = {
    "status": RUNNING,
    "lease_owner": sa.bindparam("owner"),
    "lease_expires_at": sa.bindparam("until"),
    "started_at": sa.func.coalesce(steps.c.started_at, sa.bindparam("now")),
}
START_STEP = (
    steps.update()
    .where(steps.c.run_id == sa.bindparam("r"), steps.c.name == sa.bindparam("n"))
    .values(attempts=sa.bindparam("a"), **START_VALUES)
)

INSERT_ATTEMPT = attempts.insert()

INSERT_OUTBOX = outbox.insert()
INSERT_RUN = runs.insert()
INSERT_STEPS = steps.insert()

END_RUN = (
    runs.update()
    .where(runs.c.id == sa.bindparam("b_run"))
    .values(
        status=sa.bindparam("new_status"),
        result=sa.bindparam("new_result", type_=Json),
        error=sa.bindparam("new_error", type_=Json),
        finished_at=sa.bindparam("now"),
    )
)

FAILED_STEP = sa.select(steps.c.attempts, steps.c.budget_start, steps.c.infra_failures, steps.c.policy).where(
    steps.c.run_id == sa.bindparam("b_run"), steps.c.name == sa.bindparam("step")
)

RETRY_STEP = (
    steps.update()
    .where(steps.c.run_id == sa.bindparam("b_run"), steps.c.name == sa.bindparam("step"))
    .values(
        status=READY,
        ready_at=sa.bindparam("at"),
        lease_owner=None,
        lease_expires_at=None,
        infra_failures=steps.c.infra_failures + sa.bindparam("infra"),
    )
)

SET_STEP = (
    steps.update()
    .where(steps.c.run_id == sa.bindparam("b_run"), steps.c.name == sa.bindparam("step"))
    .values(
        status=sa.bindparam("new_status"),
        error=sa.bindparam("new_error", type_=Json),
        finished_at=sa.bindparam("now"),
        lease_owner=None,
        lease_expires_at=None,
    )
)

SKIP_ACTIVE = (
    steps.update()
    .where(steps.c.run_id == sa.bindparam("b_run"), steps.c.status.in_([PENDING, READY]))
    .values(status=sa.bindparam("new_status"), finished_at=sa.bindparam("now"))
)

READY_RUNS = (
    sa.select(steps.c.run_id)
    .where(steps.c.status == READY, steps.c.ready_at <= sa.bindparam("now"))
    .order_by(steps.c.ready_at)
    .limit(sa.bindparam("room"))
)

READY_NAMES = sa.select(steps.c.name).where(
    steps.c.run_id == sa.bindparam("b_run"), steps.c.status == READY, steps.c.ready_at <= sa.bindparam("now")
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
    runs.c.id.in_(sa.bindparam("ids", expanding=True)), runs.c.status != RunStatus.RUNNING.value
)
# The live feed's project check (``GET /v1/stream``): which of these runs belong to a project.
IN_PROJECT = sa.select(runs.c.id).where(
    runs.c.id.in_(sa.bindparam("ids", expanding=True)), runs.c.project == sa.bindparam("project")
)
NEXT_READY = sa.select(sa.func.min(steps.c.ready_at)).where(steps.c.status == READY)
NEXT_LEASE_EXPIRY = sa.select(sa.func.min(steps.c.lease_expires_at)).where(steps.c.status == RUNNING)

# The lifecycle outbox's relay (``sqlalchemy_triggers``): every batch of transitions is relayed.
TAKE_OUTBOX = (
    sa.select(outbox).where(outbox.c.published_at.is_(None)).order_by(outbox.c.id).limit(sa.bindparam("limit"))
)
MARK_PUBLISHED = (
    outbox.update().where(outbox.c.id.in_(sa.bindparam("ids", expanding=True))).values(published_at=sa.bindparam("now"))
)

# Every statement above: compiled once per dialect for the raw driver path (``sqlalchemy_raw``).
ALL = [v for v in list(globals().values()) if isinstance(v, sa.sql.expression.Executable)] + [
    *LOCK_RUN.values(),
    *LOCK_PROJECT_RUN.values(),
    *LOCK_RUNS.values(),
    *INSERT_TRIGGER_EVENT.values(),
]
