"""Postgres only: the hot transitions' writes as one data-modifying statement each.

On Postgres every statement is a round trip (a socket write and a wake-up each side: most of the
control plane's CPU here). The hot transitions' writes are therefore also written as one data-modifying
statement each, built from the generic ones (``sqlalchemy_statements``) where they can be; SQLite runs those
one by one (no network to cross, and no data-modifying CTEs in SQLite). The decisions stay in Python: these
statements only write what the caller decided, or return what it needs to decide.

The run's row is still locked by its own statement first (LOCK_RUN): a statement's snapshot is taken
when it starts, before it waits for a lock, so a CTE that locked the run would read the steps as they
were before the transaction it waited for (e.g. a ``retry_run`` making a skipped dependent pending
again). After the lock, each statement starts with a snapshot that includes every earlier transition
of the run.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

from ...domain.model import AttemptStatus, RunStatus
from .statements import (
    DECREMENT_REMAINING,
    FINISH_ATTEMPT,
    PENDING,
    READY,
    RELEASE_VALUES,
    RUN_STATE,
    START_VALUES,
    STEP_SUCCEEDED,
    SUCCEEDED,
)
from .tables import Json, attempts, outbox, runs, steps, trigger_events


def _recordset(name: str, *columns: sa.ColumnClause[Any]) -> Any:
    """Rows given as one JSON array parameter (``jsonb_to_recordset``): one bind, any number of rows."""
    rows = sa.func.jsonb_to_recordset(sa.bindparam(name, type_=Json))
    return sa.select(rows.table_valued(*columns).render_derived(name=f"{name}_rows", with_types=True)).cte(name)


def _among(column: sa.Column[Any], name: str) -> sa.ColumnElement[bool]:
    """``column = ANY(:name)``, an array parameter: a join with a recordset (estimated at 100 rows) is
    otherwise planned as a hash join over a scan of the whole table; this keeps it to the index."""
    return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(sa.String)))


def _step_of(run_id: Any, name: Any) -> tuple[sa.ColumnElement[bool], ...]:
    """The ``steps`` row of ``run_id`` and ``name`` (columns of a recordset), among the runs ``run_ids``."""
    return steps.c.run_id == run_id, _among(steps.c.run_id, "run_ids"), steps.c.name == name


def _count(cte: Any) -> sa.ScalarSelect[Any]:
    return sa.select(sa.func.count()).select_from(cte).scalar_subquery()


def _attempts_started(name: str, claims: Any, run_id: Any, number: Any, only_with: Any = None, on: Any = None) -> Any:
    """INSERT_ATTEMPT of each row of ``claims`` (``n``, ``id``, ``inputs``): running, worker ``owner``,
    since ``now``; only the rows that join ``only_with`` (a CTE) ``on`` a condition, when given."""
    rows = sa.select(
        claims.c.id,
        run_id,
        claims.c.n,
        number,
        sa.literal(AttemptStatus.RUNNING.value),
        claims.c.inputs,
        sa.bindparam("owner", type_=sa.String),
        sa.bindparam("now", type_=sa.Float),
    )
    if only_with is not None:
        rows = rows.select_from(claims.join(only_with, sa.true() if on is None else on))
    columns = ["id", "run_id", "step", "number", "status", "inputs", "worker", "started_at"]
    return attempts.insert().from_select(columns, rows).returning(attempts.c.id).cte(name)


def _events_written(name: str, events: Any, run_id: Any, only_with: Any = None, on: Any = None) -> Any:
    """INSERT_OUTBOX of each row of ``events`` (``i``, ``type``, ``step``, ``data``), in the order of
    ``i``, at ``now``; only the rows that join ``only_with`` (a CTE) ``on`` a condition, when given."""
    rows = sa.select(events.c.type, run_id, events.c.step, events.c.data, sa.bindparam("now", type_=sa.Float))
    if only_with is not None:
        rows = rows.select_from(events.join(only_with, sa.true() if on is None else on))
    columns = ["type", "run_id", "step", "data", "created_at"]
    return outbox.insert().from_select(columns, rows.order_by(events.c.i)).returning(outbox.c.id).cte(name)


def _event_columns(*more: sa.ColumnClause[Any]) -> tuple[sa.ColumnClause[Any], ...]:
    """The columns of a recordset of lifecycle events, and ``more``."""
    return (sa.column("i", sa.Integer), sa.column("type", sa.String), sa.column("step", sa.String), *more)


# The run's row locked, nothing read: sent with BEGIN (``execute_later``), before SUCCEED_PG reads the run.
LOCK_PG = sa.select(runs.c.id).where(runs.c.id == sa.bindparam("b_run")).with_for_update()

# complete() of a succeeded attempt: FINISH_ATTEMPT, STEP_SUCCEEDED, the release of the dependents and
# DECREMENT_REMAINING, each only if the one before changed a row, and the first only if the run is running.
# One row per dependent that became ready (by name), or one row of NULLs; the first also with the run's
# state (``run_status`` NULL: no such run); ``recorded`` 0 means the attempt was already recorded, or the run
# is not running (nothing was written: the caller decides, as for any other outcome).
_run_now = sa.select(*(runs.c[c] for c in RUN_STATE)).where(runs.c.id == sa.bindparam("b_run")).cte("run_now")
_running = sa.exists(sa.select(_run_now.c.status).where(_run_now.c.status == RunStatus.RUNNING.value))
_finished = FINISH_ATTEMPT.where(_running).returning(attempts.c.id).cte("finished")
_succeeded = STEP_SUCCEEDED.where(sa.exists(_finished.select())).cte("succeeded")
_released = (
    steps.update()
    .where(
        steps.c.run_id == sa.bindparam("b_run"),
        steps.c.name.in_(sa.select(sa.func.jsonb_array_elements_text(_succeeded.c.dependents))),
        steps.c.status == PENDING,
    )
    .values(**RELEASE_VALUES)
    .returning(
        *(steps.c[c] for c in ("name", "status", "action", "version", "inputs", "upstream", "attempts", "policy"))
    )
    .cte("released")
)
_remaining = DECREMENT_REMAINING.where(sa.exists(_succeeded.select())).cte("remaining")
_one = sa.values(sa.column("one", sa.Integer), name="one").data([(1,)])


def _run_column(name: str) -> Any:
    return sa.select(_run_now.c[name]).scalar_subquery()


SUCCEED_PG = (
    sa.select(
        _count(_finished).label("recorded"),
        sa.select(_remaining.c.remaining).scalar_subquery().label("remaining"),
        *(_released.c[c] for c in ("name", "action", "version", "inputs", "upstream", "attempts", "policy")),
        # In the first row only: a success releasing a thousand dependents would decode the run's inputs
        # a thousand times.
        *(
            sa.case((sa.func.row_number().over(order_by=_released.c.name) == 1, _run_column(c))).label(f"run_{c}")
            for c in RUN_STATE
        ),
    )
    .select_from(_one.outerjoin(_released, _released.c.status == READY))
    .order_by(_released.c.name)
)

# complete() of several succeeded attempts (of one run or several, each running and locked), together:
# SUCCEED_PG for a set. A dependent released by k of them waits on k fewer; each run's ``remaining``
# goes down by its attempts recorded. One row: ``recorded`` (the attempt ids recorded now; the others
# were already), ``remaining`` (run id -> steps left) and ``ready`` (the dependents that became ready,
# as objects with the columns a claim needs, and ``run_id``).
_done = _recordset(
    "done",
    sa.column("id", sa.String),
    sa.column("outputs", JSONB),
    sa.column("error", JSONB),
    sa.column("logs", sa.String),
    sa.column("at", sa.Float),
)
_finished_all = (
    attempts.update()
    .where(attempts.c.id == _done.c.id, _among(attempts.c.id, "ids"), attempts.c.status == AttemptStatus.RUNNING.value)
    .values(
        status=AttemptStatus.SUCCEEDED.value,
        outputs=_done.c.outputs,
        error=_done.c.error,
        logs=_done.c.logs,
        finished_at=_done.c.at,
    )
    .returning(attempts.c.id, attempts.c.run_id, attempts.c.step, _done.c.outputs, _done.c.at)
    .cte("finished")
)
_succeeded_all = (
    steps.update()
    .where(*_step_of(_finished_all.c.run_id, _finished_all.c.step))
    .values(
        status=SUCCEEDED,
        outputs=_finished_all.c.outputs,
        error=None,
        finished_at=_finished_all.c.at,
        lease_owner=None,
        lease_expires_at=None,
    )
    .returning(steps.c.run_id, steps.c.dependents)
    .cte("succeeded")
)
_pairs = sa.select(
    _succeeded_all.c.run_id.label("r"), sa.func.jsonb_array_elements_text(_succeeded_all.c.dependents).label("n")
).subquery("pairs")
_releases = (
    sa.select(_pairs.c.r, _pairs.c.n, sa.func.count().label("k")).group_by(_pairs.c.r, _pairs.c.n).cte("releases")
)
_now_ready = steps.c.waiting_on == _releases.c.k
_released_all = (
    steps.update()
    .where(*_step_of(_releases.c.r, _releases.c.n), steps.c.status == PENDING)
    .values(
        waiting_on=steps.c.waiting_on - _releases.c.k,
        status=sa.case((_now_ready, READY), else_=steps.c.status),
        ready_at=sa.case((_now_ready, sa.bindparam("now", type_=sa.Float)), else_=steps.c.ready_at),
    )
    .returning(*(steps.c[c] for c in ("run_id", "name", "status", "action", "version", "inputs", "upstream")))
    .returning(steps.c.attempts, steps.c.policy)
    .cte("released")
)
_per_run = (
    sa.select(_succeeded_all.c.run_id.label("r"), sa.func.count().label("k"))
    .group_by(_succeeded_all.c.run_id)
    .cte("per_run")
)
_remaining_all = (
    runs.update()
    .where(runs.c.id == _per_run.c.r, _among(runs.c.id, "run_ids"))
    .values(remaining=runs.c.remaining - _per_run.c.k)
    .returning(runs.c.id, runs.c.remaining)
    .cte("remaining")
)
READY_COLUMNS = ("run_id", "name", "action", "version", "inputs", "upstream", "attempts", "policy")
_ready_object = sa.func.jsonb_build_object(*(x for c in READY_COLUMNS for x in (sa.literal(c), _released_all.c[c])))
SUCCEED_MANY_PG = sa.select(
    sa.select(sa.type_coerce(sa.func.jsonb_agg(_finished_all.c.id), JSONB)).scalar_subquery().label("recorded"),
    sa.select(sa.type_coerce(sa.func.jsonb_object_agg(_remaining_all.c.id, _remaining_all.c.remaining), JSONB))
    .scalar_subquery()
    .label("remaining"),
    sa.select(sa.type_coerce(sa.func.jsonb_agg(_ready_object), JSONB))
    .where(_released_all.c.status == READY)
    .scalar_subquery()
    .label("ready"),
)

# What transactions decided, written at their end, for one run or several: the claims (START_STEP and
# INSERT_ATTEMPT for each), the runs' ends (END_RUN for each) and the lifecycle events (INSERT_OUTBOX, in
# their order).
_claims = _recordset(
    "claims",
    sa.column("r", sa.String),
    sa.column("n", sa.String),
    sa.column("a", sa.Integer),
    sa.column("id", sa.String),
    sa.column("inputs", JSONB),
)
_started = (
    steps.update()
    .where(*_step_of(_claims.c.r, _claims.c.n))
    .values(attempts=_claims.c.a, **START_VALUES)
    .returning(steps.c.name)
    .cte("started")
)
_tried = _attempts_started("tried", _claims, _claims.c.r, _claims.c.a)
_ends = _recordset(
    "ends",
    sa.column("r", sa.String),
    sa.column("status", sa.String),
    sa.column("result", JSONB),
    sa.column("error", JSONB),
)
_ended = (
    runs.update()
    .where(runs.c.id == _ends.c.r, _among(runs.c.id, "run_ids"))
    .values(status=_ends.c.status, result=_ends.c.result, error=_ends.c.error, finished_at=sa.bindparam("now"))
    .returning(runs.c.id)
    .cte("ended")
)
_events = _recordset("events", *_event_columns(sa.column("data", JSONB), sa.column("run_id", sa.String)))
_written = _events_written("written", _events, _events.c.run_id)
WRITE_PG = sa.select(
    _count(_started).label("started"),
    _count(_tried).label("tried"),
    _count(_ended).label("ended"),
    _count(_written).label("written"),
)

# create_run() of any number of runs: INSERT_TRIGGER_EVENT of the keyed ones, INSERT_RUN and INSERT_STEPS,
# each run and its steps only if its event was new (a keyed run not in ``created``: another transaction,
# or an earlier row of this one, created this event's run). Roots claimed at once come as steps already
# running (their attempt's columns set) with their attempts in ``root_claims``, and the events in
# ``new_events``: the creation is then this one statement, atomic alone, which needs no BEGIN/COMMIT
# (``sqlalchemy_creation.create_many``). Returns the ids of the runs created.
_RUN_COLUMNS = (
    *("id", "project", "workflow", "workflow_version", "status", "inputs", "result_binding", "trigger"),
    *("remaining", "trace_id", "created_at", "deadline", "result", "error", "finished_at"),
)
_STEP_COLUMNS = (
    *("name", "action", "version", "status", "inputs", "upstream", "dependents", "waiting_on", "policy"),
    *("ready_at", "attempts", "lease_owner", "lease_expires_at", "started_at", "error", "finished_at"),
)


def _typed(table: sa.Table, name: str) -> sa.ColumnClause[Any]:
    """A recordset column typed as ``table``'s (JSON columns as JSONB)."""
    return sa.column(name, JSONB if isinstance(table.c[name].type, sa.JSON) else table.c[name].type)


_keys = _recordset(
    "new_keys", *(_typed(trigger_events, c) for c in ("project", "source", "event_id", "workflow", "run_id"))
)
_event = (
    postgresql.insert(trigger_events)
    .from_select(
        ["project", "source", "event_id", "workflow", "run_id", "received_at"],
        sa.select(
            *(_keys.c[c] for c in ("project", "source", "event_id", "workflow", "run_id")),
            sa.bindparam("now", type_=sa.Float),
        ),
    )
    .on_conflict_do_nothing()
    .returning(trigger_events.c.run_id)
    .cte("event")
)
_new_runs = _recordset("new_runs", *(_typed(runs, c) for c in _RUN_COLUMNS), sa.column("keyed", sa.Boolean))
_run = (
    runs.insert()
    .from_select(
        list(_RUN_COLUMNS),
        sa.select(*(_new_runs.c[c] for c in _RUN_COLUMNS)).where(
            sa.or_(sa.not_(_new_runs.c.keyed), _new_runs.c.id.in_(sa.select(_event.c.run_id)))
        ),
    )
    .returning(runs.c.id)
    .cte("run")
)
_new_steps = _recordset("new_steps", sa.column("run_id", sa.String), *(_typed(steps, c) for c in _STEP_COLUMNS))
_inserted = (
    steps.insert()
    .from_select(
        ["run_id", *_STEP_COLUMNS],
        sa.select(_run.c.id, *(_new_steps.c[c] for c in _STEP_COLUMNS)).select_from(
            _new_steps.join(_run, _run.c.id == _new_steps.c.run_id)
        ),
    )
    .returning(steps.c.name)
    .cte("inserted")
)
_ROOT_ATTEMPT = ("id", "run_id", "step", "number", "status", "inputs", "error", "worker", "started_at", "finished_at")
_root_claims = _recordset("root_claims", *(_typed(attempts, c) for c in _ROOT_ATTEMPT))
_root_tried = (
    attempts.insert()
    .from_select(
        list(_ROOT_ATTEMPT),
        sa.select(*(_root_claims.c[c] for c in _ROOT_ATTEMPT)).select_from(
            _root_claims.join(_run, _run.c.id == _root_claims.c.run_id)
        ),
    )
    .returning(attempts.c.id)
    .cte("root_tried")
)
_new_events = _recordset("new_events", *_event_columns(sa.column("data", JSONB), sa.column("run_id", sa.String)))
_new_written = _events_written(
    "new_written", _new_events, _new_events.c.run_id, only_with=_run, on=_run.c.id == _new_events.c.run_id
)
CREATE_PG = sa.select(
    sa.select(sa.func.array_agg(_run.c.id)).scalar_subquery().label("created"),
    _count(_inserted).label("steps"),
    _count(_root_tried).label("tried"),
    _count(_new_written).label("written"),
)

#: Every statement above: compiled once for the raw driver path (``sqlalchemy_raw``).
ALL = [v for v in list(globals().values()) if isinstance(v, sa.sql.expression.Executable)]
