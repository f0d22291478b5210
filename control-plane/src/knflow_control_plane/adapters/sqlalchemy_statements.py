"""The hot path's SQL, built once: a statement object reused with bind parameters skips SQLAlchemy's
per-call expression building and cache-key work (most of a transition's cost when built inline)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB

from ..domain.model import AttemptStatus, RunStatus, StepStatus
from .sqlalchemy_tables import Json, attempts, outbox, runs, steps, trigger_events

RUNNING, READY, PENDING, SUCCEEDED = (
    StepStatus.RUNNING.value,
    StepStatus.READY.value,
    StepStatus.PENDING.value,
    StepStatus.SUCCEEDED.value,
)
_run_state = sa.select(runs.c.id, runs.c.status, runs.c.inputs, runs.c.result_binding, runs.c.trace_id).where(
    runs.c.id == sa.bindparam("b_run")
)
LOCK_RUN = {
    "sqlite": _run_state,
    "postgresql": _run_state.with_for_update(),
    "postgresql-skip": _run_state.with_for_update(skip_locked=True),
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


# One fewer upstream to wait for; ready when it was the last (also in SUCCEED_PG).
_RELEASE = {
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
    .values(**_RELEASE)
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

READY_STEPS = (
    sa.select(
        steps.c.name,
        steps.c.action,
        steps.c.version,
        steps.c.inputs,
        steps.c.upstream,
        steps.c.attempts,
        steps.c.policy,
    )
    .where(
        steps.c.run_id == sa.bindparam("b_run"),
        steps.c.name.in_(sa.bindparam("names", expanding=True)),
        steps.c.status == READY,
        steps.c.ready_at <= sa.bindparam("now"),
    )
    .limit(sa.bindparam("room"))
)

STEP_OUTPUTS = sa.select(steps.c.name, steps.c.outputs).where(
    steps.c.run_id == sa.bindparam("b_run"),
    steps.c.name.in_(sa.bindparam("names", expanding=True)),
    steps.c.status == SUCCEEDED,
)

# A claimed step runs, leased to the claiming worker (also in WRITE_PG).
_START = {
    "status": RUNNING,
    "lease_owner": sa.bindparam("owner"),
    "lease_expires_at": sa.bindparam("until"),
    "started_at": sa.func.coalesce(steps.c.started_at, sa.bindparam("now")),
}
START_STEP = (
    steps.update()
    .where(steps.c.run_id == sa.bindparam("r"), steps.c.name == sa.bindparam("n"))
    .values(attempts=sa.bindparam("a"), **_START)
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
NEXT_READY = sa.select(sa.func.min(steps.c.ready_at)).where(steps.c.status == READY)
NEXT_LEASE_EXPIRY = sa.select(sa.func.min(steps.c.lease_expires_at)).where(steps.c.status == RUNNING)

# The lifecycle outbox's relay (``sqlalchemy_triggers``): every batch of transitions is relayed.
TAKE_OUTBOX = (
    sa.select(outbox).where(outbox.c.published_at.is_(None)).order_by(outbox.c.id).limit(sa.bindparam("limit"))
)
MARK_PUBLISHED = (
    outbox.update().where(outbox.c.id.in_(sa.bindparam("ids", expanding=True))).values(published_at=sa.bindparam("now"))
)

# --- Postgres only -------------------------------------------------------------------------------
# On Postgres every statement is a round trip (a socket write and a wake-up each side: most of the
# control plane's CPU here). The hot transitions' writes are therefore also written as one data-modifying
# statement each, built from the generic statements above where they can be; SQLite keeps running those
# one by one (no network to cross, and no data-modifying CTEs in SQLite). The decisions stay in Python: these
# statements only write what the caller decided, or return what it needs to decide.
#
# The run's row is still locked by its own statement first (LOCK_RUN): a statement's snapshot is taken
# when it starts, before it waits for a lock, so a CTE that locked the run would read the steps as they
# were before the transaction it waited for (e.g. a ``retry_run`` making a skipped dependent pending
# again). After the lock, each statement starts with a snapshot that includes every earlier transition
# of the run.


def _recordset(name: str, *columns: sa.ColumnClause[Any]) -> Any:
    """Rows given as one JSON array parameter (``jsonb_to_recordset``): one bind, any number of rows."""
    rows = sa.func.jsonb_to_recordset(sa.bindparam(name, type_=Json))
    return sa.select(rows.table_valued(*columns).render_derived(name=f"{name}_rows", with_types=True)).cte(name)


def _count(cte: Any) -> sa.ScalarSelect[Any]:
    return sa.select(sa.func.count()).select_from(cte).scalar_subquery()


# complete() of a succeeded attempt, run running: FINISH_ATTEMPT, STEP_SUCCEEDED, the release of the
# dependents and DECREMENT_REMAINING, each only if the one before changed a row. One row per dependent
# that became ready (by name), or one row of NULLs; ``recorded`` 0 means the attempt was already recorded.
_finished = FINISH_ATTEMPT.returning(attempts.c.id).cte("finished")
_succeeded = STEP_SUCCEEDED.where(sa.exists(_finished.select())).cte("succeeded")
_released = (
    steps.update()
    .where(
        steps.c.run_id == sa.bindparam("b_run"),
        steps.c.name.in_(sa.select(sa.func.jsonb_array_elements_text(_succeeded.c.dependents))),
        steps.c.status == PENDING,
    )
    .values(**_RELEASE)
    .returning(
        *(steps.c[c] for c in ("name", "status", "action", "version", "inputs", "upstream", "attempts", "policy"))
    )
    .cte("released")
)
_remaining = DECREMENT_REMAINING.where(sa.exists(_succeeded.select())).cte("remaining")
_one = sa.values(sa.column("one", sa.Integer), name="one").data([(1,)])
SUCCEED_PG = (
    sa.select(
        _count(_finished).label("recorded"),
        sa.select(_remaining.c.remaining).scalar_subquery().label("remaining"),
        *(_released.c[c] for c in ("name", "action", "version", "inputs", "upstream", "attempts", "policy")),
    )
    .select_from(_one.outerjoin(_released, _released.c.status == READY))
    .order_by(_released.c.name)
)

# What a transaction decided, written at its end: the claims (START_STEP and INSERT_ATTEMPT for each),
# the run's end (END_RUN, when ``end_status`` is not NULL) and the lifecycle events (INSERT_OUTBOX, in
# their order).
_claims = _recordset(
    "claims",
    sa.column("n", sa.String),
    sa.column("a", sa.Integer),
    sa.column("id", sa.String),
    sa.column("inputs", JSONB),
)
_started = (
    steps.update()
    .where(steps.c.run_id == sa.bindparam("b_run"), steps.c.name == _claims.c.n)
    .values(attempts=_claims.c.a, **_START)
    .returning(steps.c.name)
    .cte("started")
)
_tried = (
    attempts.insert()
    .from_select(
        ["id", "run_id", "step", "number", "status", "inputs", "worker", "started_at"],
        sa.select(
            _claims.c.id,
            sa.bindparam("b_run"),
            _claims.c.n,
            _claims.c.a,
            sa.literal(AttemptStatus.RUNNING.value),
            _claims.c.inputs,
            sa.bindparam("owner"),
            sa.bindparam("now"),
        ),
    )
    .returning(attempts.c.id)
    .cte("tried")
)
_ended = (
    END_RUN.where(sa.bindparam("end_status", type_=sa.String).is_not(None))
    .values(status=sa.bindparam("end_status", type_=sa.String))
    .returning(runs.c.id)
    .cte("ended")
)
_events = _recordset(
    "events",
    sa.column("i", sa.Integer),
    sa.column("type", sa.String),
    sa.column("run_id", sa.String),
    sa.column("step", sa.String),
    sa.column("data", JSONB),
)
_written = (
    outbox.insert()
    .from_select(
        ["type", "run_id", "step", "data", "created_at"],
        sa.select(_events.c.type, _events.c.run_id, _events.c.step, _events.c.data, sa.bindparam("now")).order_by(
            _events.c.i
        ),
    )
    .returning(outbox.c.id)
    .cte("written")
)
WRITE_PG = sa.select(
    _count(_started).label("started"),
    _count(_tried).label("tried"),
    _count(_ended).label("ended"),
    _count(_written).label("written"),
)

# create_run(): INSERT_TRIGGER_EVENT (when ``keyed``), INSERT_RUN and INSERT_STEPS, the run and its
# steps only if the event was new (``created`` 0: another transaction created this event's run).
_RUN_COLUMNS = (
    *("id", "project", "workflow", "workflow_version", "status", "inputs", "result_binding", "trigger"),
    *("remaining", "trace_id", "created_at", "deadline"),
)
_STEP_COLUMNS = ("name", "action", "version", "status", "inputs", "upstream", "dependents", "waiting_on", "policy")
_keyed = sa.bindparam("keyed", type_=sa.Boolean)
_event = (
    postgresql.insert(trigger_events)
    .from_select(
        ["project", "source", "event_id", "workflow", "run_id", "received_at"],
        sa.select(
            *(sa.bindparam(f"e_{c}", type_=trigger_events.c[c].type) for c in ("project", "source", "event_id")),
            sa.bindparam("e_workflow", type_=trigger_events.c.workflow.type),
            sa.bindparam("e_run_id", type_=trigger_events.c.run_id.type),
            sa.bindparam("e_received_at", type_=trigger_events.c.received_at.type),
        ).where(_keyed),
    )
    .on_conflict_do_nothing()
    .returning(trigger_events.c.run_id)
    .cte("event")
)
_run = (
    runs.insert()
    .from_select(
        list(_RUN_COLUMNS),
        sa.select(*(sa.bindparam(f"r_{c}", type_=runs.c[c].type) for c in _RUN_COLUMNS)).where(
            sa.or_(sa.not_(_keyed), sa.exists(_event.select()))
        ),
    )
    .returning(runs.c.id)
    .cte("run")
)
_new_steps = _recordset(
    "new_steps",
    *(sa.column(c, JSONB if isinstance(steps.c[c].type, sa.JSON) else steps.c[c].type) for c in _STEP_COLUMNS),
    sa.column("ready_at", steps.c.ready_at.type),
)
_inserted = (
    steps.insert()
    .from_select(
        ["run_id", *_STEP_COLUMNS, "ready_at"],
        sa.select(_run.c.id, *(_new_steps.c[c] for c in (*_STEP_COLUMNS, "ready_at"))),
    )
    .returning(steps.c.name)
    .cte("inserted")
)
CREATE_PG = sa.select(_count(_run).label("created"), _count(_inserted).label("steps"))

# Every statement above: compiled once per dialect for the raw driver path (``sqlalchemy_raw``).
ALL = [v for v in list(globals().values()) if isinstance(v, sa.sql.expression.Executable)] + [
    *LOCK_RUN.values(),
    *INSERT_TRIGGER_EVENT.values(),
]
