"""The run state machine's port on SQL: load what the facts need, persist what the planner decided.

Every transition of runs goes through ``service/state_machine.py`` :func:`apply_facts` over the
:class:`~...ports.store.RunStates` port; :class:`SqlRunStates` implements it here, on SQLite and Postgres
alike: lock the runs (``dialects``), load each one's :class:`RunState` (the steps the facts name and their
dependents, or the ready ones, or all), load more when the planner answers :class:`Need` (outputs to bind,
a fan-in's bindings, every step to end a run), and write every plan by the dialect's one path. Nothing
here decides what becomes ready, retries, fails or ends. On SQLite's inline connection a run whose last
transition left its whole state in the cache (``state_cache``) is planned from that state, not read.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...domain.concurrency import QueuedRun
from ...domain.model import AttemptStatus, RunStatus, StepStatus
from ...domain.records import Worker
from ...domain.throttles import Throttled
from ...domain.transitions import AttemptFinished, Context, Fact, LeaseExpired, Need, Plan, RunState, Step, StepsDue
from ...service.state_machine import apply_facts
from . import concurrency, maps
from .dialect_writes import WRITTEN, Writes
from .dialects import PostgresDialect, SqliteDialect, dependents_of, dialect_of, policy_of
from .event_wait_keys import register
from .raw import AnyConnection, plan_generically, state_cache_of
from .state_cache import differences, report

#: The columns a plan writes of a step (read from the record at once), and their parameters' names.
_written = operator.itemgetter(*WRITTEN)
_WRITTEN_KEYS = tuple(f"w_{column}" for column in WRITTEN)
#: The facts that name a step (a tuple: ``isinstance`` with a ``|`` union builds it on every call).
_NAMING = (AttemptFinished, LeaseExpired)
#: A status's column value (``.value`` of an enum member is a descriptor call).
_VALUES = {status: status.value for status in StepStatus}
_RUN_VALUES = {status: status.value for status in RunStatus}
_RUN_STATUS: dict[str, RunStatus] = {status.value: status for status in RunStatus}
_RUNNING = AttemptStatus.RUNNING.value


def transition(
    conn: AnyConnection,
    facts: Mapping[str, Sequence[Fact]],
    context: Context,
    *,
    skip_locked: bool = False,
    use_outbox: bool = False,
    share_room: bool = False,
    workers: Mapping[str, Worker | None] | None = None,
    unlocked: bool = False,
) -> dict[str, Plan | None]:
    """:func:`apply_facts` in the transaction of ``conn`` (``unlocked``: see :class:`SqlRunStates`)."""
    states = SqlRunStates(conn, use_outbox=use_outbox, unlocked=unlocked)
    return apply_facts(states, facts, context, skip_locked=skip_locked, share_room=share_room, workers=workers)


class SqlRunStates:
    """:class:`~...ports.store.RunStates` on one SQL transaction, through the dialect's one path.

    ``unlocked`` (Postgres, a transaction begun with ``reads_first``): the runs are read before the
    transaction and locked only to be written, in the message that writes them and commits, two round
    trips instead of three. Each run's ``version`` is read with it, and the writes fail whole
    (SQLSTATE 40001) when one moved since: the caller then applies the facts again, locked as usual
    (``batches.record``). Whatever the plan does after its writes (admitting
    queued runs) runs locked, behind them.
    """

    def __init__(self, conn: AnyConnection, *, use_outbox: bool, unlocked: bool = False):
        self.conn, self.dialect, self.use_outbox = conn, dialect_of(conn), use_outbox
        #: Whether its runs have versions to bump (Postgres: SQLite has one writer, nothing to compare).
        self.versioned = isinstance(self.dialect, PostgresDialect)
        self.unlocked = unlocked and self.versioned
        #: Each run's version as first read, while ``unlocked``.
        self.versions: dict[str, int] = {}
        #: The run states kept between transitions (SQLite's inline connection: ``state_cache``), and
        #: the state each run's plan was last made from, to keep what the plan leaves.
        self.cache = state_cache_of(conn)
        self.planned_from: dict[str, RunState] = {}

    def lock(self, run_ids: Sequence[str], *, skip_locked: bool) -> list[str]:
        """The runs' rows locked (Postgres; SQLite has one writer): the ids held. Unlocked: all of
        them, locked by :meth:`persist`."""
        if self.unlocked and not skip_locked:
            return sorted(run_ids)
        return self.dialect.lock(self.conn, run_ids, skip_locked=skip_locked)

    def load_for(self, facts: Mapping[str, Sequence[Fact]], now: float) -> dict[str, RunState]:
        """See :func:`load_for`; the states kept in the cache are not read."""
        if self.cache is None:
            return load_for(self.conn, self.dialect, facts, now, versions=self._versions())
        states: dict[str, RunState] = {}
        unknown: dict[str, Sequence[Fact]] = {}
        for run_id, run_facts in facts.items():
            kept = self.cache.get(run_id)
            if kept is None:
                unknown[run_id] = run_facts
            else:
                states[run_id] = kept
                if self.cache.check is not None:
                    _check(self.conn, self.dialect, kept, now, self.cache.check)
        if unknown:
            states.update(load_for(self.conn, self.dialect, unknown, now))
        self.planned_from.update(states)
        return states

    def load_more(self, state: RunState, need: Need, now: float) -> RunState:
        """See :func:`_load_more` (and :func:`.maps.load` for map steps)."""
        state = _load_more(self.conn, self.dialect, state, need, now, versions=self._versions())
        state = maps.load(self.conn, state, need.maps) if need.maps else state
        if self.cache is not None:
            self.planned_from[state.run_id] = state
        return state

    def _versions(self) -> dict[str, int] | None:
        return self.versions if self.unlocked else None

    def persist(self, plans: Sequence[tuple[Plan, Context]]) -> None:
        """Every plan's rows, written by the dialect's one statement a table (Postgres: one in all); on
        the inline connection, the states they leave kept for the runs' next transitions."""
        if self.cache is None:
            self._persist(plans)
            return
        with self.cache.following():  # every row these write is a planned run's, staged below
            self._persist(plans)
        for done, _ in plans:
            self.cache.keep(done.run_id, self.planned_from.get(done.run_id), done)

    def _persist(self, plans: Sequence[tuple[Plan, Context]]) -> None:
        writes = Writes()
        for done, context in plans:
            add_writes(writes, done, context, self.use_outbox)
            if self.versioned and done.changes:  # a duplicate's plan changes nothing: nothing to lock
                writes.planned[done.run_id] = self.versions.get(done.run_id) if self.unlocked else None
        if self.unlocked:  # the runs locked now, in the writes' message; whatever follows runs locked
            self.unlocked = False
            if writes.planned:
                self.dialect.lock(self.conn, list(writes.planned), skip_locked=False)
        if writes:
            self.dialect.persist(self.conn, writes, max(context.now for _, context in plans))
        if any(done.maps for done, _ in plans):
            maps.persist(self.conn, plans)
        if any(done.waits for done, _ in plans):  # steps that started waiting for an event: indexed
            register(self.conn, [wait for done, _ in plans for wait in done.waits])

    def queue_of(self, key: str, bound: int) -> tuple[int, list[QueuedRun]]:
        """See :func:`.concurrency.queue_of`."""
        return concurrency.queue_of(self.conn, key, bound)

    def admitted(self, run_ids: Sequence[str], now: float) -> None:
        """See :func:`.concurrency.admitted`."""
        concurrency.admitted(self.conn, run_ids, now)

    def requeue(self, run_ids: Sequence[str], now: float) -> None:
        """See :func:`.concurrency.requeue`."""
        concurrency.requeue(self.conn, run_ids, now)

    def throttle_of(self, project: str, action: str, bound: int) -> tuple[int, list[Throttled]]:
        """See :func:`.throttles.throttle_of`."""
        from .throttles import throttle_of  # it drives these states: imported when used

        return throttle_of(self.conn, project, action, bound)


def load_for(
    conn: AnyConnection,
    dialect: SqliteDialect | PostgresDialect,
    facts: Mapping[str, Sequence[Fact]],
    now: float,
    *,
    versions: dict[str, int] | None = None,
) -> dict[str, RunState]:
    """The state of each run the facts need: the steps they name and their dependents (with their
    bindings when they may start now), the ready steps when a timer fired, or every step (a fact that
    ends or retries the run). ``versions``: read outside the runs' lock; each run's version goes there."""
    names: set[str] = set()
    keys: list[tuple[str, str]] = []
    bound, due, every = 1, False, False
    for run_id, run_facts in facts.items():
        named = set()
        for fact in run_facts:
            if isinstance(fact, _NAMING):
                named.add(fact.step)
            elif isinstance(fact, StepsDue):
                due = True
            else:
                every = True
        names |= named
        keys += [(run_id, name) for name in sorted(named)]
        bound = max(bound, len(named))
    run_ids = sorted(facts)
    return _select(
        conn,
        dialect,
        run_ids,
        names=sorted(names),
        keys=keys,
        bound=bound,
        due=due,
        every=every,
        now=now,
        versions=versions,
    )


def _select(
    conn: AnyConnection,
    dialect: SqliteDialect | PostgresDialect,
    run_ids: list[str],
    *,
    names: list[str],
    now: float,
    keys: list[tuple[str, str]] | None = None,
    bound: int = 1,
    due: bool = False,
    every: bool = False,
    bind: Sequence[str] = (),
    versions: dict[str, int] | None = None,
) -> dict[str, RunState]:
    if not run_ids:
        return {}
    if keys is None:
        keys = [(run_id, name) for run_id in run_ids for name in names]
    params = {
        "b_runs": run_ids,
        "names": names,  # SQLite: the steps of any of the runs by these names (a batch there is one run's)
        "keys": keys,  # Postgres: exactly these (a batch there spans runs), as (run, step) pairs
        "bind": list(bind),
        "bound": bound,
        "due": due,
        "every": every,
        "now": now,
    }
    run_rows, step_rows = dialect.load(conn, params, unlocked=versions is not None)
    if versions is not None:  # the first read's: a state read in parts is one state only if none moved
        for row in run_rows:
            versions.setdefault(row.run_id, row.run_version)
    return _states(run_rows, step_rows, complete=every)


def _states(run_rows: Sequence[Any], step_rows: Sequence[Any], *, complete: bool) -> dict[str, RunState]:
    steps: dict[str, dict[str, Step]] = {row.run_id: {} for row in run_rows}
    for row in step_rows:
        if row.run_id in steps:
            steps[row.run_id][row.name] = _step(row)
    return {
        row.run_id: RunState(
            row.run_id,
            _RUN_STATUS[row.run_status],
            row.run_remaining,
            row.run_inputs,
            row.run_result_binding,
            row.run_trace_id,
            steps[row.run_id],
            complete=complete,
            project=row.run_project,
            concurrency_key=row.run_concurrency_key,
        )
        for row in run_rows
    }


_STATUS = StepStatus._value2member_map_


def _step(row: Any) -> Step:
    """A step's row as the state machine's record, built without the frozen dataclass's ``__init__``
    (a field at a time through ``object.__setattr__``: most of a transition's load in Python)."""
    step = object.__new__(Step)
    step.__dict__.update(
        name=row.name,
        status=_STATUS[row.status],
        action=row.action,
        version=row.version,
        attempts=row.attempts,
        budget_start=row.budget_start,
        infra_failures=row.infra_failures,
        waiting_on=row.waiting_on,
        dependents=dependents_of(row.dependents),
        policy=policy_of(row.policy),
        bindings=row.inputs,
        upstream=tuple(row.upstream) if row.upstream is not None else None,
        ready_at=row.ready_at,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        when=row.condition,
        wait=row.wait,
        wake_at=row.wake_at,
    )
    return step


def _check(conn: AnyConnection, dialect: SqliteDialect | PostgresDialect, kept: RunState, now: float, to: Path) -> None:
    """``kept`` (served from the cache) against the run read whole from the database (``state_cache.report``)."""
    stored = _select(conn, dialect, [kept.run_id], names=[], now=now, every=True).get(kept.run_id)
    asked = {"b_runs": [kept.run_id], "names": sorted(kept.outputs)}
    outputs = {row.name: row.outputs or {} for row in conn.execute(dialect.outputs_statement, asked)}
    found = ["not in the database"] if stored is None else differences(kept, stored, outputs)
    if found:
        report(to, kept.run_id, found)


def _load_more(
    conn: AnyConnection,
    dialect: SqliteDialect | PostgresDialect,
    state: RunState,
    need: Need,
    now: float,
    *,
    versions: dict[str, int] | None = None,
) -> RunState:
    """``state`` with what ``need`` names loaded too."""
    if need.all_steps or need.bindings:
        asked = sorted(need.bindings)
        fresh = _select(
            conn, dialect, [state.run_id], names=asked, bind=asked, every=need.all_steps, now=now, versions=versions
        )
        loaded = fresh[state.run_id].steps if state.run_id in fresh else {}
        state = replace(state, steps={**state.steps, **loaded}, complete=state.complete or need.all_steps)
    if need.outputs:
        asked = sorted(need.outputs)
        plan_generically(conn)  # as the load before it (no message of its own to put the mode back)
        rows = conn.execute(dialect.outputs_statement, {"b_runs": [state.run_id], "names": asked}).all()
        found = {row.name: row.outputs or {} for row in rows if row.run_id == state.run_id}
        state = replace(state, outputs={**state.outputs, **found}, looked_up=state.looked_up | frozenset(asked))
    return state


def add_writes(writes: Writes, done: Plan, context: Context, use_outbox: bool) -> None:
    """``done`` as rows: changed steps, attempts ended and started, the run, and its events (outbox)."""
    run_id, now = done.run_id, context.now
    outputs = done.outputs
    for name, step in done.steps.items():
        row = dict(zip(_WRITTEN_KEYS, _written(step.__dict__), strict=True))
        row.update(run_key=run_id, step_key=name, w_status=_VALUES[step.status])
        row.update(set_outputs=name in outputs, outputs=outputs.get(name))
        writes.steps.append(row)
    for end in done.ended:
        writes.ended.append(
            {
                "w_id": end.attempt_id,
                "w_status": end.status,
                "w_outputs": end.outputs,
                "w_error": end.error,
                "w_logs": end.logs,
                "now": now,
            }
        )
    worker = context.worker.name if context.worker else None
    for start in done.started:
        finish = start.end
        writes.started.append(
            {
                "id": start.attempt_id,
                "run_id": run_id,
                "step": start.step,
                "number": start.number,
                "status": finish.status if finish else _RUNNING,
                "inputs": start.inputs,
                "outputs": finish.outputs if finish else None,
                "error": finish.error if finish else None,
                "logs": (finish.logs or "") if finish else "",
                "worker": worker,
                "started_at": now,
                "finished_at": now if finish else None,
            }
        )
    if done.run is not None:
        change = done.run
        writes.runs.append(
            {
                "run_key": run_id,
                "w_status": _RUN_VALUES[change.status],
                "w_remaining": change.remaining,
                "w_result": change.result,
                "w_error": change.error,
                "w_finished_at": change.finished_at,
            }
        )
    if use_outbox:  # ``seq``: their order, for Postgres's one statement (SQLite inserts them in order)
        writes.events += [
            {"seq": seq, "type": e.type, "run_id": e.run_id, "step": e.step, "data": e.data, "created_at": now}
            for seq, e in enumerate(done.events, len(writes.events))
        ]
