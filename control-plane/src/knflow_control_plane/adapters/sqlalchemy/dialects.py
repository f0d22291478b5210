"""Where SQLite and Postgres differ for the state machine's loads and writes: one strategy object each.

The store loads a run state and persists a plan through the same functions on both databases
(``transitions``); only these differ:

- locking: SQLite has one writer (nothing to lock); Postgres locks each run's row first, by a statement
  held to travel with the next one (``execute_later``), or read back when rows locked elsewhere are
  skipped (``SKIP LOCKED``: the caller must know which runs it got);
- lists: an expanding ``IN`` on SQLite, one array parameter (``= ANY``) on Postgres, so that a statement
  held and sent as ``EXECUTE`` keeps one text whatever the number of runs;
- a step's dependents, kept as a JSON array: ``json_each`` on SQLite, ``jsonb_array_elements_text``
  on Postgres;
- the writes of a plan (their statements: ``dialect_writes``): one ``executemany`` a table on SQLite (no
  network to cross), one data-modifying statement for every table on Postgres (``PERSIST_PG``), held
  until the ``COMMIT``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ...domain.model import RetryPolicy, StepStatus
from . import statements as st
from .dialect_writes import END_ATTEMPT, PERSIST_PG, WRITE_RUN, WRITE_STEP, Writes, document, run_ids
from .json_columns import dumps, loads
from .raw import AnyConnection, compiled_once, execute_later, plan_generically, planned_generically
from .statements_pg import _recordset
from .tables import runs, steps

READY = StepStatus.READY.value
#: The step columns the state machine reads and writes (``domain.transitions.Step``).
STEP_COLUMNS = (
    *("name", "status", "action", "version", "attempts", "budget_start", "infra_failures", "waiting_on"),
    *("dependents", "policy", "ready_at", "lease_owner", "lease_expires_at", "started_at", "finished_at", "error"),
    *("condition", "wait", "wake_at"),
)
RUN_COLUMNS = ("status", "remaining", "inputs", "result_binding", "trace_id", "project", "concurrency_key")
#: Those held as JSON.
RUN_JSON = ("inputs", "result_binding")
Rows = Sequence[Any]


#: Decoded policies and dependents lists, by their JSON text: a workflow's steps share a few of each.
_POLICIES: dict[str, RetryPolicy] = {}
_DEPENDENTS: dict[str, tuple[str, ...]] = {}
_KEPT = 4096


def policy_of(text: Any) -> RetryPolicy:
    """A step's retry policy from its JSON text (decoded once per distinct text; asyncpg hands it decoded)."""
    if not isinstance(text, str):
        return RetryPolicy(**text)
    policy = _POLICIES.get(text)
    if policy is None:
        policy = RetryPolicy(**json.loads(text))
        if len(_POLICIES) < _KEPT:
            _POLICIES[text] = policy
    return policy


def dependents_of(text: Any) -> tuple[str, ...]:
    """A step's dependents from their JSON text (decoded once per distinct text; asyncpg hands them decoded)."""
    if not isinstance(text, str):
        return tuple(text)
    names = _DEPENDENTS.get(text)
    if names is None:
        names = tuple(json.loads(text))
        if len(_DEPENDENTS) < _KEPT:
            _DEPENDENTS[text] = names
    return names


def _startable(among: Any, table: Any = steps) -> Any:
    """Which of the steps read come with their bindings: those that may start now (``bound``: at most
    that many upstream left), the ready ones, those asked for (``bind``), or all (``every``)."""
    return sa.or_(
        table.c.waiting_on <= sa.bindparam("bound"),
        table.c.status == READY,
        among(table.c.name, "bind"),
        sa.bindparam("every", type_=sa.Boolean),
    )


def _wanted_pg() -> Any:
    """Which steps a transition reads on Postgres when a timer fired or a fact ends the run: those named
    (``keys``: run and step, exactly: a batch spans many runs) and their dependents, the ready ones whose
    time has come (``due``), or all (``every``). An attempt's end, the common case, reads by
    :func:`_load_pg_named` instead."""
    keys = _recordset("keys", sa.column("run_key", sa.String), sa.column("step_key", sa.String))
    named = steps.alias("named")
    dependents = (
        sa.select(named.c.run_id, sa.func.jsonb_array_elements_text(named.c.dependents))
        .select_from(named.join(keys, sa.and_(named.c.run_id == keys.c.run_key, named.c.name == keys.c.step_key)))
        .where(_any(named.c.run_id, "b_runs"))
    )
    pairs = sa.union_all(sa.select(keys.c.run_key, keys.c.step_key), dependents)
    due = sa.and_(
        sa.bindparam("due", type_=sa.Boolean), steps.c.status == READY, steps.c.ready_at <= sa.bindparam("now")
    )
    return sa.or_(sa.bindparam("every", type_=sa.Boolean), sa.tuple_(steps.c.run_id, steps.c.name).in_(pairs), due)


def _by_key(table: Any, run_id: Any, name: Any, *columns: Any) -> Any:
    """``columns`` of ``table``'s row keyed (``run_id``, ``name``), as a lateral subquery read once per
    key by its primary key. ``OFFSET 0`` keeps the planner from flattening it into a join: with the key
    list's size unknown to a generic plan (it guesses 100 rows), it would rather read every step of the
    run and filter them against the list, a thousand rows a key in a fan-out's run."""
    row = sa.select(*columns).where(table.c.run_id == run_id, table.c.name == name).offset(sa.literal_column("0"))
    return row.lateral()


#: The step columns a transition reads.
_READ = (*STEP_COLUMNS, "inputs", "upstream")
#: Step columns read as their JSON text: few distinct values, decoded once each (``transitions._step``).
AS_TEXT = ("dependents", "policy")


def _step_columns(startable: Any, table: Any = steps) -> list[Any]:
    return [
        *(sa.cast(table.c[c], sa.Text).label(c) if c in AS_TEXT else table.c[c] for c in STEP_COLUMNS),
        *(sa.case((startable, table.c[c])).label(c) for c in ("inputs", "upstream")),
    ]


def _run_head(step_name: Any) -> list[Any]:
    """A run's columns as the first of its rows carries them (its JSON ones in that row only: a success
    releasing a thousand dependents would decode them a thousand times)."""
    first = sa.func.row_number().over(partition_by=runs.c.id, order_by=step_name) == 1
    return [
        runs.c.id.label("run_id"),
        runs.c.status.label("run_status"),
        runs.c.remaining.label("run_remaining"),
        *(sa.case((first, runs.c[c])).label(f"run_{c}") for c in ("inputs", "result_binding")),
        runs.c.trace_id.label("run_trace_id"),
        runs.c.project.label("run_project"),
        runs.c.concurrency_key.label("run_concurrency_key"),
        runs.c.version.label("run_version"),
    ]


def _load_pg() -> sa.Select[Any]:
    """The runs and the steps a transition reads (:func:`_wanted_pg`) in one statement, one round trip."""
    wanted, startable = _wanted_pg(), _startable(_any)
    return (
        sa.select(*_run_head(steps.c.name), *_step_columns(startable))
        .select_from(runs.outerjoin(steps, sa.and_(steps.c.run_id == runs.c.id, wanted)))
        .where(_any(runs.c.id, "b_runs"))
        .order_by(runs.c.id, steps.c.name)
    )


def _load_pg_named() -> sa.Select[Any]:
    """The runs and exactly the steps named (``keys``) and their dependents, each read by its primary key
    (:func:`_by_key`), in one statement: an attempt's end, planned generically
    (``raw_asyncpg.AsyncpgDriver.plan_generically``)."""
    keys = _recordset("keys", sa.column("run_key", sa.String), sa.column("step_key", sa.String))
    named = _by_key(steps, keys.c.run_key, keys.c.step_key, steps.c.dependents)
    released = sa.select(keys.c.run_key, sa.func.jsonb_array_elements_text(named.c.dependents)).select_from(
        keys.join(named, sa.true())
    )
    # Computed once (a CTE referenced once is inlined: then once per run of the batch). A UNION, not ALL:
    # the siblings of a fan-out completing together all release the same join, whose row (its bindings
    # to every sibling) would come back, and be decoded, once per sibling.
    pairs = sa.union(sa.select(keys.c.run_key, keys.c.step_key), released)
    wanted = pairs.cte("wanted").prefix_with("MATERIALIZED")
    found = _by_key(steps, wanted.c.run_key, wanted.c.step_key, *(steps.c[c] for c in _READ))
    read = (
        sa.select(*found.c)
        .select_from(wanted.join(found, sa.true()))
        .where(wanted.c.run_key == runs.c.id)
        .offset(sa.literal_column("0"))  # per run: its own pairs only, each read once
        .lateral("read")
    )
    return (
        sa.select(*_run_head(read.c.name), *_step_columns(_startable(_any, read), read))
        .select_from(runs.outerjoin(read, sa.true()))
        .where(_any(runs.c.id, "b_runs"))
        .order_by(runs.c.id, read.c.name)
    )


def _run_columns() -> list[Any]:
    """A run's columns as a transition reads them; its JSON ones as text (``SqliteDialect.load`` decodes
    them once a run, not once a step row)."""
    return [
        runs.c.id.label("run_id"),
        *((sa.cast(runs.c[c], sa.Text) if c in RUN_JSON else runs.c[c]).label(f"run_{c}") for c in RUN_COLUMNS),
    ]


def _load_sqlite() -> tuple[sa.Select[Any], ...]:
    """The runs, and the steps a transition reads, as plain lookups: cheaper there (no round trips to
    save) than the one statement Postgres takes with its ``OR`` s and window function. The steps named
    and their dependents (``json_each``) by one index lookup joined to their run (one statement for the
    common case: an attempt's end); or the ready ones; or all."""
    startable = _startable(_in_list)
    run_rows = sa.select(*_run_columns()).where(_in_list(runs.c.id, "b_runs"))
    step_rows = sa.select(steps.c.run_id, *_step_columns(startable)).where(_in_list(steps.c.run_id, "b_runs"))
    named = steps.alias("named")
    released = sa.func.json_each(named.c.dependents).table_valued("value")
    among = (_in_list(named.c.run_id, "b_runs"), _in_list(named.c.name, "names"))
    # one list of names, read by index (an ``OR`` of the two would read every step of the run)
    wanted = sa.union_all(
        sa.select(named.c.name).where(*among),
        sa.select(released.c.value).select_from(named.join(released, sa.true())).where(*among),
    )
    joined = (
        sa.select(*_run_columns(), *_step_columns(startable))
        .select_from(runs.outerjoin(steps, sa.and_(steps.c.run_id == runs.c.id, steps.c.name.in_(wanted))))
        .where(_in_list(runs.c.id, "b_runs"))
    )
    due = step_rows.where(steps.c.status == READY, steps.c.ready_at <= sa.bindparam("now"))
    return run_rows, joined, _load_keys_sqlite(startable), due, step_rows


def _load_keys_sqlite(startable: Any) -> sa.Select[Any]:
    """Exactly the steps named (``keys_json``: a JSON list of ``[run, step]`` pairs) and their dependents,
    each by its primary key: a batch of several runs' completions (``sqlite_thread`` merges those that
    queue together), where one run's names must not load the steps of that name of every other run (a
    fan-out's thousand siblings, say)."""
    keys = sa.func.json_each(sa.bindparam("keys_json", type_=sa.Text)).table_valued("value").alias("keys")
    key_run, key_step = (sa.func.json_extract(keys.c.value, sa.literal_column(f"'$[{i}]'")) for i in (0, 1))
    named = steps.alias("named")
    released = sa.func.json_each(named.c.dependents).table_valued("value").alias("released")
    wanted = sa.union(  # not ALL: a step both named and released by another is read once
        sa.select(key_run.label("run_id"), key_step.label("name")).select_from(keys),
        sa.select(named.c.run_id, released.c.value).select_from(
            keys.join(named, sa.and_(named.c.run_id == key_run, named.c.name == key_step)).join(released, sa.true())
        ),
    ).subquery("wanted")
    return sa.select(steps.c.run_id, *_step_columns(startable)).select_from(
        wanted.join(steps, sa.and_(steps.c.run_id == wanted.c.run_id, steps.c.name == wanted.c.name))
    )


def _outputs(among: Any) -> sa.Select[Any]:
    """Succeeded steps' outputs (of any of the runs: the caller keeps those it asked for)."""
    return sa.select(steps.c.run_id, steps.c.name, steps.c.outputs).where(
        among(steps.c.run_id, "b_runs"), among(steps.c.name, "names"), steps.c.status == StepStatus.SUCCEEDED.value
    )


def _in_list(column: Any, name: str) -> Any:
    return column.in_(sa.bindparam(name, expanding=True))


def _any(column: Any, name: str) -> Any:
    return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(sa.String)))


LOAD_RUNS_SQLITE, LOAD_NAMED_SQLITE, LOAD_KEYS_SQLITE, LOAD_DUE_SQLITE, LOAD_ALL_SQLITE = _load_sqlite()
LOAD_PG = _load_pg()
LOAD_PG_NAMED = _load_pg_named()
# The same, read outside a transaction (a completion's first try: ``transitions.SqlRunStates``), where no
# ``SET LOCAL`` can ask for its generic plan: its parameters read so that Postgres keeps that plan itself.
LOAD_PG_NAMED_UNLOCKED = planned_generically(_load_pg_named())
OUTPUTS_SQLITE = _outputs(_in_list)
OUTPUTS_PG = _outputs(_any)
# The runs' rows locked, nothing read: held, to go with the load (Postgres).
LOCK_MANY_PG = sa.select(runs.c.id).where(_any(runs.c.id, "b_runs")).order_by(runs.c.id).with_for_update()


@dataclass(frozen=True, slots=True)
class _RunRow:
    run_id: str
    run_status: str
    run_remaining: int
    run_inputs: Any
    run_result_binding: Any
    run_trace_id: str | None
    run_project: str
    run_concurrency_key: str | None


def _runs_of(rows: Rows) -> list[_RunRow]:
    """Each run's columns (from its first row: the steps' rows repeat them), its JSON decoded."""
    seen: dict[str, _RunRow] = {}
    for row in rows:
        if row.run_id not in seen:
            binding = row.run_result_binding
            seen[row.run_id] = _RunRow(
                row.run_id,
                row.run_status,
                row.run_remaining,
                loads(row.run_inputs),
                loads(binding) if binding is not None else None,
                row.run_trace_id,
                row.run_project,
                row.run_concurrency_key,
            )
    return list(seen.values())


class SqliteDialect:
    """SQLite: one writer at a time (nothing to lock); the writes one ``executemany`` a table."""

    name = "sqlite"
    outputs_statement = OUTPUTS_SQLITE

    def load(self, conn: AnyConnection, params: dict[str, Any], *, unlocked: bool = False) -> tuple[Rows, Rows]:
        """The runs' rows and those of the steps named and their dependents, the ready ones, or all
        (``unlocked`` changes nothing: one writer at a time)."""
        step_rows: list[Any] = []
        if params["names"] and not params["every"]:  # an attempt's end: its run and steps by one statement
            if len(params["b_runs"]) == 1:
                rows = conn.execute(LOAD_NAMED_SQLITE, params).all()
                run_rows = _runs_of(rows)
                step_rows = [row for row in rows if row.name is not None]
            else:  # several runs (a merged batch): each run's own steps, exactly
                params["keys_json"] = dumps(params["keys"])
                run_rows = _runs_of(conn.execute(LOAD_RUNS_SQLITE, params).all())
                step_rows = list(conn.execute(LOAD_KEYS_SQLITE, params).all())
        else:
            run_rows = _runs_of(conn.execute(LOAD_RUNS_SQLITE, params).all())
        if params["every"]:
            return run_rows, conn.execute(LOAD_ALL_SQLITE, params).all()
        if params["due"]:
            seen = {(row.run_id, row.name) for row in step_rows}
            step_rows += [row for row in conn.execute(LOAD_DUE_SQLITE, params) if (row.run_id, row.name) not in seen]
        return run_rows, step_rows

    def lock(self, conn: AnyConnection, run_ids: Sequence[str], *, skip_locked: bool) -> list[str]:
        """The runs this transaction may change: all of them (the database thread runs one at a time)."""
        return list(run_ids)

    def persist(self, conn: AnyConnection, writes: Writes, now: float) -> None:
        """Write ``writes`` (in an order where each row exists before it is updated)."""
        for statement, rows in (
            (st.INSERT_ATTEMPT, writes.started),
            (END_ATTEMPT, writes.ended),
            (WRITE_STEP, writes.steps),
            (WRITE_RUN, writes.runs),
            (st.INSERT_OUTBOX, writes.events),
        ):
            if len(rows) == 1:
                conn.execute(statement, rows[0])  # sqlite3's execute: executemany costs more for one row
            elif rows:
                conn.execute(statement, rows)


class PostgresDialect:
    """Postgres: runs locked in the order of their ids; the writes one statement, held to the ``COMMIT``."""

    name = "postgresql"
    outputs_statement = OUTPUTS_PG

    def load(self, conn: AnyConnection, params: dict[str, Any], *, unlocked: bool = False) -> tuple[Rows, Rows]:
        """The runs' rows and the steps' rows :func:`_wanted_pg` names, by one statement (a run's first row
        carries its columns). ``unlocked``: read before the transaction (its runs not locked)."""
        named = params["keys"] and not params["every"] and not params["due"]
        plan_generically(conn)  # its custom plan costs Postgres four times its execution
        statement = (LOAD_PG_NAMED_UNLOCKED if unlocked else LOAD_PG_NAMED) if named else LOAD_PG
        rows = conn.execute(statement, params).all()
        return [r for r in rows if r.run_inputs is not None], [r for r in rows if r.name is not None]

    def lock(self, conn: AnyConnection, run_ids: Sequence[str], *, skip_locked: bool) -> list[str]:
        """Lock the runs' rows; those another transaction holds are left out when ``skip_locked``."""
        ordered = sorted(run_ids)
        if not skip_locked:
            execute_later(conn, LOCK_MANY_PG, {"b_runs": ordered})
            return ordered
        statement = st.LOCK_RUNS["postgresql-skip"]
        return [row.id for row in conn.execute(statement, {"b_runs": ordered})]

    def persist(self, conn: AnyConnection, writes: Writes, now: float) -> None:
        """Write ``writes`` by one statement, sent with the ``COMMIT`` (nothing reads its counts)."""
        # the rows' keys again as arrays: the index conditions of the attempts' and runs' updates
        end_ids = [row["w_id"] for row in writes.ended]
        params = {"writes": document(writes), "end_ids": end_ids, "run_ids": run_ids(writes), "now": now}
        execute_later(conn, PERSIST_PG, params)


def dialect_of(conn: AnyConnection) -> SqliteDialect | PostgresDialect:
    """The strategy for ``conn``'s database."""
    return POSTGRES if conn.dialect.name == "postgresql" else SQLITE


SQLITE = SqliteDialect()
POSTGRES = PostgresDialect()
compiled_once(globals())  # every statement above, once per dialect (``raw``)
