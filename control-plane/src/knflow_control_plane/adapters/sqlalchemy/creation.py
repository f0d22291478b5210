"""Creating a run: the state machine plans its start (:func:`~..domain.planner.plan_creation`: ``run.started``,
roots claimed), and the run is inserted as that plan leaves it: its row, its steps, the roots' attempts
and the events. SQLite inserts table by table in the transaction; Postgres inserts any number of runs by
one statement, atomic without a transaction of its own (``pg.CREATE_PG``).

Idempotent on the trigger event's (source, id): the same event delivered twice creates one run.
"""

from __future__ import annotations

import random
from contextlib import nullcontext
from typing import Any, NamedTuple

from ...domain.model import AttemptStatus, RunStatus
from ...domain.planner import plan_creation
from ...domain.records import NewRun, Transition, Worker
from ...domain.transitions import Context, Plan, RunState
from . import statements as st
from . import statements_pg as pg
from .raw import AnyConnection, state_cache_of


class Creation(NamedTuple):
    """One run to create (:func:`create_many`)."""

    new: NewRun
    now: float
    worker: Worker | None


class _Rows(NamedTuple):
    """A new run's rows, as its first plan leaves them."""

    run: dict[str, Any]
    steps: list[dict[str, Any]]
    attempts: list[dict[str, Any]]
    events: list[dict[str, Any]]


def create_run(
    conn: AnyConnection, new: NewRun, now: float, worker: Worker | None, rng: random.Random, use_outbox: bool
) -> Transition:
    """Insert a run and its steps; ready the roots; claim them for ``worker`` if given.

    Idempotent on ``new.idempotency``: a second creation from the same event returns the first run.
    """
    if conn.dialect.name == "postgresql":
        [created] = _insert_pg(conn, [Creation(new, now, worker)], rng, use_outbox)
        return created
    cache = state_cache_of(conn)
    with cache.following() if cache is not None else nullcontext():  # the new run's rows, and its key's
        inserted = _insert_sqlite(conn, new, now, worker, rng, use_outbox)
    if inserted is None:
        return _existing(conn, new)
    state, first = inserted
    if cache is not None:
        cache.keep(new.run_id, state, first)  # its first transition plans from it, not from its rows read back
    return _transition(new, first)


def _insert_sqlite(
    conn: AnyConnection, new: NewRun, now: float, worker: Worker | None, rng: random.Random, use_outbox: bool
) -> tuple[RunState, Plan] | None:
    """Insert the run as its first plan leaves it; the state it was planned from and that plan (None:
    its trigger event's run exists already)."""
    if new.idempotency is not None:
        # INSERT .. ON CONFLICT DO NOTHING: a replica creating the same run concurrently waits for the
        # other transaction, then finds the key taken, instead of failing on a unique violation.
        source, event_id = new.idempotency
        key = {"project": new.project, "source": source, "event_id": event_id, "workflow": new.workflow}
        claimed = conn.execute(
            st.INSERT_TRIGGER_EVENT[conn.dialect.name], {**key, "run_id": new.run_id, "received_at": now}
        )
        if claimed.rowcount == 0:
            return None
    state, first = plan_creation(new, Context(now, worker, rng))
    rows = _rows(new, state, first, now, worker)
    conn.execute(st.INSERT_RUN, rows.run)
    conn.execute(st.INSERT_STEPS, rows.steps)
    if rows.attempts:
        conn.execute(st.INSERT_ATTEMPT, rows.attempts)
    if use_outbox:
        conn.execute(st.INSERT_OUTBOX, rows.events)
    return state, first


def _transition(new: NewRun, first: Plan) -> Transition:
    return Transition(new.run_id, first.run_status, list(first.claims), list(first.events))


def create_many(
    conn: AnyConnection, batch: list[Creation], rng: random.Random, use_outbox: bool
) -> list[Transition | None]:
    """:func:`create_run` on Postgres of runs started together, as one statement (``pg.CREATE_PG``),
    atomic without a transaction of its own: one round trip for the lot. None for a run claimed by a
    worker of another name than the first (its attempts' owner), with nothing done for it."""
    owner = next((c.worker.name for c in batch if c.worker is not None), None)
    mine = [i for i, c in enumerate(batch) if c.worker is None or c.worker.name == owner]
    done: list[Transition | None] = [None] * len(batch)
    for i, created in zip(mine, _insert_pg(conn, [batch[i] for i in mine], rng, use_outbox), strict=True):
        done[i] = created
    return done


def _insert_pg(conn: AnyConnection, batch: list[Creation], rng: random.Random, use_outbox: bool) -> list[Transition]:
    """Runs as their first plans leave them, by ``pg.CREATE_PG`` (one worker name: the attempts' owner)."""
    params: dict[str, list[dict[str, Any]]] = {
        "new_runs": [],
        "new_keys": [],
        "new_steps": [],
        "root_claims": [],
        "new_events": [],
    }
    firsts = []
    for c in batch:
        state, first = plan_creation(c.new, Context(c.now, c.worker, rng))
        firsts.append(first)
        rows = _rows(c.new, state, first, c.now, c.worker)
        params["new_runs"].append({**rows.run, "keyed": c.new.idempotency is not None})
        if c.new.idempotency is not None:
            source, event_id = c.new.idempotency
            key = {"project": c.new.project, "source": source, "event_id": event_id, "workflow": c.new.workflow}
            params["new_keys"].append({**key, "run_id": c.new.run_id})
        params["new_steps"] += rows.steps
        params["root_claims"] += rows.attempts
        if use_outbox:
            events = params["new_events"]
            events += [{**e, "seq": len(events) + i} for i, e in enumerate(rows.events)]
    owner = next((c.worker.name for c in batch if c.worker is not None), None)
    now = max(c.now for c in batch)
    recordsets = {name: pg.positional(name, given) for name, given in params.items()}
    created = set(conn.execute(pg.CREATE_PG, {**recordsets, "owner": owner, "now": now}).one().created or ())
    return [
        _transition(c.new, first)
        if c.new.run_id in created
        else _existing(conn, c.new)  # its event's run: created before, or earlier in this batch
        for c, first in zip(batch, firsts, strict=True)
    ]


def _rows(new: NewRun, state: RunState, first: Plan, now: float, worker: Worker | None) -> _Rows:
    """The run, its steps, attempts and events as ``first`` (the plan that starts it) leaves them."""
    ended = first.run
    run = {
        "id": new.run_id,
        "project": new.project,
        "workflow": new.workflow,
        "workflow_version": new.workflow_version,
        "status": first.run_status.value,
        "inputs": new.inputs,
        "result_binding": new.result,
        "trigger": new.trigger,
        "remaining": ended.remaining if ended else state.remaining,
        "trace_id": new.trace_id,
        "created_at": now,
        "deadline": now + new.timeout if new.timeout else None,
        "result": ended.result if ended else None,
        "error": ended.error if ended else None,
        "finished_at": ended.finished_at if ended else None,
    }
    steps = []
    for name, planned in state.steps.items():
        step = first.steps.get(name, planned)
        steps.append(
            {
                "run_id": new.run_id,
                "name": name,
                "action": step.action,
                "version": step.version,
                "status": step.status.value,
                "inputs": planned.bindings,
                "upstream": list(planned.upstream or ()),
                "dependents": list(step.dependents),
                "waiting_on": step.waiting_on,
                "policy": step.policy.stored(),
                "condition": planned.when,
                "wait": planned.wait,
                "wake_at": step.wake_at,
                "ready_at": step.ready_at,
                "attempts": step.attempts,
                "lease_owner": step.lease_owner,
                "lease_expires_at": step.lease_expires_at,
                "started_at": step.started_at,
                "error": step.error,
                "finished_at": step.finished_at,
            }
        )
    attempts = [
        {
            "id": s.attempt_id,
            "run_id": new.run_id,
            "step": s.step,
            "number": s.number,
            "status": s.end.status if s.end else AttemptStatus.RUNNING.value,
            "inputs": s.inputs,
            "error": s.end.error if s.end else None,
            "worker": worker.name if worker else None,
            "started_at": now,
            "finished_at": now if s.end else None,
        }
        for s in first.started
    ]
    events = [
        {"type": e.type, "run_id": e.run_id, "step": e.step, "data": e.data, "created_at": now} for e in first.events
    ]
    return _Rows(run, steps, attempts, events)


def _existing(conn: AnyConnection, new: NewRun) -> Transition:
    """The run the event of ``new`` already created (the key is taken: its run was committed with it)."""
    assert new.idempotency is not None
    source, event_id = new.idempotency
    params = {"b_project": new.project, "b_source": source, "b_event": event_id, "b_workflow": new.workflow}
    row = conn.execute(st.EXISTING_RUN, params).first()
    assert row is not None
    return Transition(row.id, RunStatus(row.status), duplicate=True, created=False)
