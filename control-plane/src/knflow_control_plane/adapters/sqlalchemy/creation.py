"""Creating a run: one transaction inserts it and its steps, readies the roots and may claim them; on
Postgres, when every root can start at once, one statement without a transaction for any number of runs
(:func:`create_many`).

Idempotent on the trigger event's (source, id): the same event delivered twice creates one run.
"""

from __future__ import annotations

import random
from typing import Any, NamedTuple

from knflow.bindings import BindingError, resolve

from ...domain import events as ev
from ...domain.model import RunStatus, StepStatus
from ...domain.records import Claim, NewRun, Transition, Worker
from . import statements as st
from . import statements_pg as pg
from .raw import AnyConnection
from .runs import claim
from .tx import RunState, Tx, flush


def create_run(
    conn: AnyConnection, new: NewRun, now: float, worker: Worker | None, rng: random.Random, use_outbox: bool
) -> Transition:
    """Insert a run and its steps; ready the roots; claim them for ``worker`` if given.

    Idempotent on ``new.idempotency``: a second creation from the same event returns the first run.
    """
    tx = Tx(conn, now, worker, rng, use_outbox, [], [])
    if tx.postgres:
        return _create_at_once(tx, new)
    if new.idempotency is not None:
        # INSERT .. ON CONFLICT DO NOTHING: a replica creating the same run concurrently waits for the
        # other transaction, then finds the key taken, instead of failing on a unique violation.
        claimed = conn.execute(
            st.INSERT_TRIGGER_EVENT[conn.dialect.name],
            {
                "project": new.project,
                "source": new.idempotency[0],
                "event_id": new.idempotency[1],
                "workflow": new.workflow,
                "run_id": new.run_id,
                "received_at": now,
            },
        )
        if claimed.rowcount == 0:
            existing = _existing_run(conn, new)
            assert existing is not None  # the key is taken, so its run was committed with it
            return Transition(existing[0], RunStatus(existing[1]), duplicate=True, created=False)
    conn.execute(st.INSERT_RUN, _run_row(new, now))
    conn.execute(st.INSERT_STEPS, [{"run_id": new.run_id, **row} for row in _step_rows(new, now)])
    tx.emit(ev.RUN_STARTED, new.run_id, workflow=new.workflow, version=new.workflow_version)
    if worker is not None:
        roots = [s.name for s in new.steps if not s.upstream]
        claim(tx, RunState(new.run_id, RunStatus.RUNNING.value, new.inputs, new.result, new.trace_id), roots)
    return flush(tx, new.run_id, RunStatus.RUNNING)


def _run_row(new: NewRun, now: float) -> dict[str, Any]:
    return {
        "id": new.run_id,
        "project": new.project,
        "workflow": new.workflow,
        "workflow_version": new.workflow_version,
        "status": RunStatus.RUNNING.value,
        "inputs": new.inputs,
        "result_binding": new.result,
        "trigger": new.trigger,
        "remaining": len(new.steps),
        "trace_id": new.trace_id,
        "created_at": now,
        "deadline": now + new.timeout if new.timeout else None,
    }


def _step_rows(new: NewRun, now: float) -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "action": s.action,
            "version": s.version,
            "status": StepStatus.READY.value if not s.upstream else StepStatus.PENDING.value,
            "inputs": s.inputs,
            "upstream": list(s.upstream),
            "dependents": list(s.dependents),
            "waiting_on": s.waiting_on,
            "policy": vars(s.policy),
            "ready_at": now if not s.upstream else None,
            "attempts": 0,
            "lease_owner": None,
            "lease_expires_at": None,
            "started_at": None,
        }
        for s in new.steps
    ]


class Creation(NamedTuple):
    """One run to create (:func:`create_many`)."""

    new: NewRun
    now: float
    worker: Worker | None


def create_many(
    conn: AnyConnection, batch: list[Creation], rng: random.Random, use_outbox: bool
) -> list[Transition | None]:
    """:func:`create_run` on Postgres of each run whose roots can all start now, together as one statement
    (``pg.CREATE_PG``), atomic without a transaction of its own: one round trip for the lot. None for a
    run it takes more for, with nothing done for it: a root that cannot be claimed at once (no room for
    every root, or inputs that do not resolve, whose failure is recorded), or a worker of another name."""
    owner = next((c.worker.name for c in batch if c.worker is not None), None)
    planned: list[tuple[int, Tx, NewRun, list[dict[str, Any]] | None]] = []
    for i, c in enumerate(batch):
        if c.worker is not None and c.worker.name != owner:
            continue
        tx = Tx(conn, c.now, c.worker, rng, use_outbox, [], [])
        tx.emit(ev.RUN_STARTED, c.new.run_id, workflow=c.new.workflow, version=c.new.workflow_version)
        started = _roots_started(tx, c.new)
        if started is not None:
            planned.append((i, tx, c.new, started))
    done: list[Transition | None] = [None] * len(batch)
    if planned:
        for (i, *_), transition in zip(planned, _insert([entry[1:] for entry in planned]), strict=True):
            done[i] = transition
    return done


def _create_at_once(tx: Tx, new: NewRun) -> Transition:
    """:func:`create_run` on Postgres, in a transaction: one statement, and the claims by ``claim`` when
    the roots cannot all be started by it."""
    tx.emit(ev.RUN_STARTED, new.run_id, workflow=new.workflow, version=new.workflow_version)
    started = _roots_started(tx, new)
    [transition] = _insert([(tx, new, started)])
    if started is not None or not transition.created or tx.worker is None:
        return transition
    run = RunState(new.run_id, RunStatus.RUNNING.value, new.inputs, new.result, new.trace_id)
    roots = [_Root(s.name, s.action, s.version, s.inputs, (), 0, vars(s.policy)) for s in new.steps if not s.upstream]
    claim(tx, run, [r.name for r in roots], rows=roots)
    return flush(tx, new.run_id, RunStatus.RUNNING)


class _Root(NamedTuple):
    """A root step as claim() reads it (what ``st.READY_STEPS`` would return for it)."""

    name: str
    action: str
    version: str
    inputs: dict[str, Any]
    upstream: tuple[str, ...]
    attempts: int
    policy: dict[str, Any]


def _roots_started(tx: Tx, new: NewRun) -> list[dict[str, Any]] | None:
    """Attempts of every root, claimed for ``tx.worker`` (none without a worker), with their claims and
    events added to ``tx``; None, adding nothing, when not every root can start now."""
    roots = [s for s in new.steps if not s.upstream] if tx.worker is not None else []
    try:
        inputs = [
            {k: resolve(b, new.inputs, {}, f"steps.{s.name}.inputs.{k}") for k, b in s.inputs.items()} for s in roots
        ]
    except BindingError:
        inputs = []
    if tx.worker is not None and (len(inputs) < len(roots) or len(roots) > tx.worker.capacity):
        return None
    started = []
    for step, resolved in zip(roots, inputs, strict=True):
        attempt_id = f"{new.run_id}/{step.name}/1"
        deadline = tx.now + float(step.policy.timeout)
        tx.claims.append(
            Claim(attempt_id, new.run_id, step.name, 1, step.action, step.version, resolved, deadline, new.trace_id)
        )
        tx.emit(ev.STEP_STARTED, new.run_id, step.name, attempt=1)
        started.append({"n": step.name, "id": attempt_id, "inputs": resolved})
    return started


def _insert(entries: list[tuple[Tx, NewRun, list[dict[str, Any]] | None]]) -> list[Transition]:
    """Runs, their steps and the attempts ``started`` of each: ``pg.CREATE_PG``. A run with ``started``
    (even none) is complete, and the events in its ``tx`` are written too (outbox); else ``flush`` will.
    The transactions share a connection, and one worker name (the attempts' owner)."""
    conn = entries[0][0].conn
    owner = next((tx.worker.name for tx, _, _ in entries if tx.worker is not None), None)
    params: dict[str, list[dict[str, Any]]] = {"new_runs": [], "new_keys": [], "new_steps": [], "root_claims": []}
    params["new_events"] = []
    for tx, new, started in entries:
        params["new_runs"].append({**_run_row(new, tx.now), "keyed": new.idempotency is not None})
        if new.idempotency is not None:
            source, event_id = new.idempotency
            key = {"project": new.project, "source": source, "event_id": event_id, "workflow": new.workflow}
            params["new_keys"].append({**key, "run_id": new.run_id})
        params["new_steps"] += [{"run_id": new.run_id, **row} for row in _rows_started(tx, new, started or [])]
        params["root_claims"] += [{"r": new.run_id, **s} for s in started or ()]
        if tx.outbox and started is not None:
            events = params["new_events"]
            events += [
                {"i": len(events) + i, "type": e.type, "step": e.step, "data": e.data, "run_id": new.run_id}
                for i, e in enumerate(tx.events)
            ]
    now = max(tx.now for tx, _, _ in entries)
    created = set(conn.execute(pg.CREATE_PG, {**params, "owner": owner, "now": now}).one().created or ())
    done = []
    for tx, new, _ in entries:
        if new.run_id in created:
            done.append(Transition(new.run_id, RunStatus.RUNNING, list(tx.claims), list(tx.events)))
            continue
        existing = _existing_run(conn, new)  # its event's run: created before, or earlier in this batch
        assert existing is not None  # the key is taken, so its run was committed with it
        tx.claims.clear()
        tx.events.clear()
        done.append(Transition(existing[0], RunStatus(existing[1]), duplicate=True, created=False))
    return done


def _rows_started(tx: Tx, new: NewRun, started: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run's step rows, the roots in ``started`` already running with their first attempt."""
    rows = _step_rows(new, tx.now)
    if started:
        assert tx.worker is not None
        running = {s["n"] for s in started}
        lease = {"lease_owner": tx.worker.name, "lease_expires_at": tx.now + tx.worker.lease, "started_at": tx.now}
        for row in rows:
            if row["name"] in running:
                row.update(status=StepStatus.RUNNING.value, attempts=1, **lease)
    return rows


def _existing_run(conn: AnyConnection, new: NewRun) -> tuple[str, str] | None:
    assert new.idempotency is not None
    source, event_id = new.idempotency
    params = {"b_project": new.project, "b_source": source, "b_event": event_id, "b_workflow": new.workflow}
    row = conn.execute(st.EXISTING_RUN, params).first()
    return (row.id, row.status) if row else None
