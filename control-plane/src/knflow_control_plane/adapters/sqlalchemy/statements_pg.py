"""Postgres only: creating runs as one data-modifying statement (``CREATE_PG``), and the recordset
helpers the state machine's writes share (``dialects.PERSIST_PG``).

On Postgres every statement is a round trip (a socket write and a wake-up each side: most of the
control plane's CPU here), so writes go as one statement from JSON recordsets, however many rows. The
decisions stay in the domain (``domain/planner.py``): these statements only write what it planned.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

from .raw import compiled_once
from .tables import Json, attempts, outbox, runs, steps, trigger_events


def _recordset(name: str, *columns: sa.ColumnClause[Any], source: Any = None) -> Any:
    """Rows given as one JSON array of arrays, each row's values in the order of ``columns``, as the CTE
    ``name``: the parameter ``name``, or ``source`` (a JSON expression: a part of a parameter, say). One
    bind, any number of rows; :func:`positional` makes the rows from dicts.

    Arrays, not objects for ``jsonb_to_recordset``: Postgres reads them three times faster (an object's
    keys are parsed and sorted in every row), and the text is less than half (``docs/performance.md``).
    A JSON ``null`` is SQL ``NULL`` in every column, JSON ones included, as ``jsonb_to_recordset`` gives it.
    """
    rows = sa.func.jsonb_array_elements(sa.bindparam(name, type_=Json) if source is None else source)
    element = rows.table_valued("value").render_derived(name=f"{name}_rows")
    _POSITIONS[name] = operator.itemgetter(*(column.name for column in columns))
    return sa.select(*(_at(element.c.value, i, column) for i, column in enumerate(columns))).cte(name)


def _at(row: Any, index: int, column: sa.ColumnClause[Any]) -> Any:
    """The value at ``index`` of a recordset's ``row`` (a JSON array), as ``column``."""
    at: Any = sa.literal_column(str(index))  # a literal: a parameter would be one more to bind on every call
    value: Any
    if isinstance(column.type, sa.JSON):  # JSONB too
        value = sa.func.nullif(row.op("->", return_type=JSONB)(at), sa.literal_column("'null'::jsonb"))
    else:
        value = sa.cast(row.op("->>", return_type=sa.Text)(at), column.type)
    return value.label(column.name)


#: Each recordset's values, in its columns' order, from a row given as a dict (see :func:`positional`).
_POSITIONS: dict[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]] = {}


def positional(name: str, rows: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """``rows`` (dicts with at least the columns of the recordset ``name``) as that recordset's rows."""
    values = _POSITIONS[name]
    return [values(row) for row in rows]


def _count(cte: Any) -> sa.ScalarSelect[Any]:
    return sa.select(sa.func.count()).select_from(cte).scalar_subquery()


def _events_written(name: str, events: Any, run_id: Any, only_with: Any = None, on: Any = None) -> Any:
    """INSERT_OUTBOX of each row of ``events`` (``seq``, ``type``, ``step``, ``data``), in the order of
    ``seq``, at ``now``; only the rows that join ``only_with`` (a CTE) ``on`` a condition, when given."""
    rows = sa.select(events.c.type, run_id, events.c.step, events.c.data, sa.bindparam("now", type_=sa.Float))
    if only_with is not None:
        rows = rows.select_from(events.join(only_with, sa.true() if on is None else on))
    columns = ["type", "run_id", "step", "data", "created_at"]
    return outbox.insert().from_select(columns, rows.order_by(events.c.seq)).returning(outbox.c.id).cte(name)


def _event_columns(*more: sa.ColumnClause[Any]) -> tuple[sa.ColumnClause[Any], ...]:
    """The columns of a recordset of lifecycle events, and ``more``."""
    return (sa.column("seq", sa.Integer), sa.column("type", sa.String), sa.column("step", sa.String), *more)


# create_run() of any number of runs: INSERT_TRIGGER_EVENT of the keyed ones, INSERT_RUN and INSERT_STEPS,
# each run and its steps only if its event was new (a keyed run not in ``created``: another transaction,
# or an earlier row of this one, created this event's run). Roots claimed at once come as steps already
# running (their attempt's columns set) with their attempts in ``root_claims``, and the events in
# ``new_events``: the creation is then this one statement, atomic alone, which needs no BEGIN/COMMIT
# (``creation.create_many``). Returns the ids of the runs created.
_RUN_COLUMNS = (
    *("id", "project", "workflow", "workflow_version", "status", "inputs", "result_binding", "trigger"),
    *("remaining", "trace_id", "created_at", "deadline", "result", "error", "finished_at"),
)
_STEP_COLUMNS = (
    *("name", "action", "version", "status", "inputs", "upstream", "dependents", "waiting_on", "policy"),
    *("ready_at", "attempts", "lease_owner", "lease_expires_at", "started_at", "error", "finished_at"),
    *("condition", "wait", "wake_at"),
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

compiled_once(globals())  # every statement above, once per dialect (``raw``)
