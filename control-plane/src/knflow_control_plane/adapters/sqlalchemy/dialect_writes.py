"""The state machine's writes of a plan, as rows and as statements: one ``executemany`` a table on SQLite,
one data-modifying statement for every table on Postgres (``PERSIST_PG``), held until the ``COMMIT``.
``dialects`` runs them (its strategy objects' ``persist``); ``transitions`` makes the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

from ...domain.model import AttemptStatus
from .statements_pg import _recordset, positional
from .tables import Json, attempts, outbox, runs, steps

RUNNING_ATTEMPT = AttemptStatus.RUNNING.value
#: Those a plan writes.
WRITTEN = (
    *("status", "waiting_on", "ready_at", "attempts", "budget_start", "infra_failures", "error"),
    *("started_at", "finished_at", "lease_owner", "lease_expires_at", "wake_at"),
)


@dataclass
class Writes:
    """A plan (or several runs' plans) as rows, table by table."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    ended: list[dict[str, Any]] = field(default_factory=list)
    started: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    #: Postgres: every run a plan changes, with the version its state was read at when that read was
    #: made outside the run's lock (None: read under it). Each one's version is bumped; one that moved
    #: since it was read fails the whole statement (``knflow_runs_moved``, migration 0017).
    planned: dict[str, int | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.steps or self.ended or self.started or self.runs or self.events or self.planned)


def _any(column: Any, name: str) -> Any:
    return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(sa.String)))


WRITE_STEP = (
    steps.update()
    .where(steps.c.run_id == sa.bindparam("run_key"), steps.c.name == sa.bindparam("step_key"))
    .values(
        **{c: sa.bindparam(f"w_{c}", type_=steps.c[c].type) for c in WRITTEN},
        # the outputs only of the steps that produced them (a step run again keeps its last ones until then)
        outputs=sa.case(
            (sa.bindparam("set_outputs", type_=sa.Boolean), sa.bindparam("outputs", type_=Json)),
            else_=steps.c.outputs,
        ),
    )
)
END_ATTEMPT = (
    attempts.update()
    .where(attempts.c.id == sa.bindparam("w_id"), attempts.c.status == RUNNING_ATTEMPT)
    .values(
        status=sa.bindparam("w_status"),
        outputs=sa.bindparam("w_outputs", type_=Json),
        error=sa.bindparam("w_error", type_=Json),
        logs=sa.func.coalesce(sa.bindparam("w_logs", type_=sa.Text), attempts.c.logs),
        finished_at=sa.bindparam("now"),
    )
)
WRITE_RUN = (
    runs.update()
    .where(runs.c.id == sa.bindparam("run_key"))
    .values(
        status=sa.bindparam("w_status"),
        remaining=sa.bindparam("w_remaining"),
        result=sa.bindparam("w_result", type_=Json),
        error=sa.bindparam("w_error", type_=Json),
        finished_at=sa.bindparam("w_finished_at", type_=sa.Float),
    )
)


#: Every table's rows of a plan, one JSON document (``{"steps": [...], "ends": [...], ...}``, see
#: :func:`document`): one value to encode and to send as a literal with the ``COMMIT`` instead of one a table.
_WRITES = sa.bindparam("writes", type_=Json)


def _part(name: str, *columns: sa.ColumnClause[Any]) -> Any:
    """The rows of the document's ``name`` part, as the CTE ``w_<name>`` of ``columns``."""
    part = _WRITES.op("->", return_type=JSONB)(sa.literal_column(f"'{name}'"))
    return _recordset(f"w_{name}", *columns, source=part)


def _typed(table: sa.Table, name: str, as_name: str | None = None) -> sa.ColumnClause[Any]:
    type_ = JSONB if isinstance(table.c[name].type, sa.JSON) else table.c[name].type
    return sa.column(as_name or name, type_)


def _prefixed(table: sa.Table, name: str) -> sa.ColumnClause[Any]:
    """A recordset column named as the SQLite statements' parameters (``w_`` and the column), so that
    the same rows serve both dialects as they are."""
    return _typed(table, name, f"w_{name}")


_step_rows = _part(
    "steps",
    sa.column("run_key", sa.String),
    sa.column("step_key", sa.String),
    *(_prefixed(steps, c) for c in WRITTEN),
    sa.column("set_outputs", sa.Boolean),
    sa.column("outputs", JSONB),
)
_written_steps = (
    steps.update()
    .where(steps.c.run_id == _step_rows.c.run_key, steps.c.name == _step_rows.c.step_key)
    .values(
        **{c: _step_rows.c[f"w_{c}"] for c in WRITTEN},
        outputs=sa.case((_step_rows.c.set_outputs, _step_rows.c.outputs), else_=steps.c.outputs),
    )
    .returning(steps.c.name)
    .cte("written_steps")
)
_ends = _part("ends", *(_prefixed(attempts, c) for c in ("id", "status", "outputs", "error", "logs")))
_ended = (
    attempts.update()
    .where(attempts.c.id == _ends.c.w_id, _any(attempts.c.id, "end_ids"), attempts.c.status == RUNNING_ATTEMPT)
    .values(
        status=_ends.c.w_status,
        outputs=_ends.c.w_outputs,
        error=_ends.c.w_error,
        logs=sa.func.coalesce(_ends.c.w_logs, attempts.c.logs),
        finished_at=sa.bindparam("now", type_=sa.Float),
    )
    .returning(attempts.c.id)
    .cte("ended")
)
ATTEMPT_COLUMNS = (
    *("id", "run_id", "step", "number", "status", "inputs", "outputs", "error", "logs", "worker"),
    *("started_at", "finished_at"),
)
_starts = _part("starts", *(_typed(attempts, c) for c in ATTEMPT_COLUMNS))
_started = (
    attempts.insert()
    .from_select(list(ATTEMPT_COLUMNS), sa.select(*(_starts.c[c] for c in ATTEMPT_COLUMNS)))
    .returning(attempts.c.id)
    .cte("started")
)
_RUN_WRITTEN = ("status", "remaining", "result", "error", "finished_at")
#: Every run planned: its version bumped; its columns written when ``changed``; ``expected``, the version
#: its state was read at outside the lock (NULL: read under it, nothing to compare).
_run_rows = _part(
    "runs",
    sa.column("run_key", sa.String),
    sa.column("changed", sa.Boolean),
    *(_prefixed(runs, c) for c in _RUN_WRITTEN),
    sa.column("expected", sa.BigInteger),
)
_written_runs = (
    runs.update()
    .where(runs.c.id == _run_rows.c.run_key, _any(runs.c.id, "run_ids"))
    .values(
        version=runs.c.version + 1,
        **{c: sa.case((_run_rows.c.changed, _run_rows.c[f"w_{c}"]), else_=runs.c[c]) for c in _RUN_WRITTEN},
    )
    .returning(runs.c.id)
    .cte("written_runs")
)
# The runs read outside their lock that another transaction changed (or deleted) since: the statement
# sees the runs as they were before it (and after the lock it comes behind), so this compares with the
# version committed last.
_moved = (
    sa.select(sa.func.array_agg(_run_rows.c.run_key))
    .select_from(_run_rows.outerjoin(runs, runs.c.id == _run_rows.c.run_key))
    .where(_run_rows.c.expected.is_not(None), runs.c.version.is_distinct_from(_run_rows.c.expected))
    .scalar_subquery()
)
_events = _part(
    "events",
    sa.column("seq", sa.Integer),
    *(_typed(outbox, c) for c in ("type", "run_id", "step", "data", "created_at")),
)
_written_events = (
    outbox.insert()
    .from_select(
        ["type", "run_id", "step", "data", "created_at"],
        sa.select(*(_events.c[c] for c in ("type", "run_id", "step", "data", "created_at"))).order_by(_events.c.seq),
    )
    .returning(outbox.c.id)
    .cte("written_events")
)


#: A planned run's row when the plan leaves its columns as they are.
_UNCHANGED = dict.fromkeys(f"w_{c}" for c in _RUN_WRITTEN)


def document(writes: Writes) -> dict[str, list[tuple[Any, ...]]]:
    """``writes`` as ``PERSIST_PG``'s ``writes``: each table's rows as arrays (``statements_pg.positional``);
    a row of ``runs`` for every run planned (``writes.planned``) or changed."""
    changed = {row["run_key"]: row for row in writes.runs}
    run_rows = [
        {**changed.get(run_id, _UNCHANGED), "run_key": run_id, "changed": run_id in changed, "expected": expected}
        for run_id, expected in _planned(writes).items()
    ]
    return {
        "steps": positional("w_steps", writes.steps),
        "ends": positional("w_ends", writes.ended),
        "starts": positional("w_starts", writes.started),
        "runs": positional("w_runs", run_rows),
        "events": positional("w_events", writes.events),
    }


def run_ids(writes: Writes) -> list[str]:
    """The runs ``document`` writes a row of (the index condition of ``PERSIST_PG``'s update of runs)."""
    return list(_planned(writes))


def _planned(writes: Writes) -> dict[str, int | None]:
    """Every run planned or changed, with the version it is expected at (None: none to compare)."""
    if all(row["run_key"] in writes.planned for row in writes.runs):
        return writes.planned
    return {**dict.fromkeys(row["run_key"] for row in writes.runs), **writes.planned}


def _count(cte: Any) -> Any:
    return sa.select(sa.func.count()).select_from(cte).scalar_subquery()


#: A plan's writes, every table in one statement (Postgres): a statement is a round trip there.
PERSIST_PG = sa.select(
    *(_count(c).label(c.name) for c in (_written_steps, _ended, _started, _written_runs, _written_events)),
    sa.func.knflow_runs_moved(sa.func.coalesce(_moved, sa.literal_column("'{}'::text[]"))).label("moved"),
)
