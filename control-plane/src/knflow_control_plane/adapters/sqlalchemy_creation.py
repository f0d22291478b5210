"""Creating a run: one transaction inserts it and its steps, readies the roots and may claim them; on
Postgres, when every root can start at once, one statement without a transaction (:func:`create_alone`).

Idempotent on the trigger event's (source, id): the same event delivered twice creates one run.
"""

from __future__ import annotations

import random
from typing import Any, NamedTuple

from knflow.bindings import BindingError, resolve

from ..domain import events as ev
from ..domain.model import RunStatus, StepStatus
from ..domain.records import Claim, NewRun, Transition, Worker
from . import sqlalchemy_statements as st
from . import sqlalchemy_statements_pg as pg
from .sqlalchemy_raw import AnyConnection
from .sqlalchemy_runs import RunState, Tx, claim, flush


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


def create_alone(
    conn: AnyConnection, new: NewRun, now: float, worker: Worker | None, rng: random.Random, use_outbox: bool
) -> Transition | None:
    """:func:`create_run` on Postgres as one statement, which is atomic without a transaction of its own:
    one round trip instead of four. None, having done nothing, when it takes more: a root that cannot be
    claimed at once (no room for every root, or inputs that do not resolve, whose failure is recorded)."""
    tx = Tx(conn, now, worker, rng, use_outbox, [], [])
    tx.emit(ev.RUN_STARTED, new.run_id, workflow=new.workflow, version=new.workflow_version)
    started = _roots_started(tx, new)
    return None if started is None else _insert(tx, new, started)


def _create_at_once(tx: Tx, new: NewRun) -> Transition:
    """:func:`create_run` on Postgres, in a transaction: one statement, and the claims by ``claim`` when
    the roots cannot all be started by it."""
    tx.emit(ev.RUN_STARTED, new.run_id, workflow=new.workflow, version=new.workflow_version)
    started = _roots_started(tx, new)
    transition = _insert(tx, new, started)
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


def _insert(tx: Tx, new: NewRun, started: list[dict[str, Any]] | None) -> Transition:
    """The run, its steps and the attempts ``started``: ``pg.CREATE_PG``. With ``started`` (even none),
    the creation is complete, and the events in ``tx`` are written too (outbox); else ``flush`` will."""
    source, event_id = new.idempotency or (None, None)
    rows = _step_rows(new, tx.now)
    if started:
        assert tx.worker is not None
        running = {s["n"] for s in started}
        lease = {"lease_owner": tx.worker.name, "lease_expires_at": tx.now + tx.worker.lease, "started_at": tx.now}
        for row in rows:
            if row["name"] in running:
                row.update(status=StepStatus.RUNNING.value, attempts=1, **lease)
    created = tx.conn.execute(
        pg.CREATE_PG,
        {
            "keyed": new.idempotency is not None,
            **{"e_project": new.project, "e_source": source, "e_event_id": event_id, "e_workflow": new.workflow},
            **{"e_run_id": new.run_id, "e_received_at": tx.now},
            **{f"r_{name}": value for name, value in _run_row(new, tx.now).items()},
            "new_steps": rows,
            "root_claims": started or [],
            "owner": tx.worker.name if tx.worker is not None else None,
            "now": tx.now,
            "new_events": [{"i": i, "type": e.type, "step": e.step, "data": e.data} for i, e in enumerate(tx.events)]
            if tx.outbox and started is not None
            else [],
        },
    ).one()
    if not created.created:
        existing = _existing_run(tx.conn, new)
        assert existing is not None  # the key is taken, so its run was committed with it
        tx.claims.clear()
        tx.events.clear()
        return Transition(existing[0], RunStatus(existing[1]), duplicate=True, created=False)
    return Transition(new.run_id, RunStatus.RUNNING, list(tx.claims), list(tx.events))


def _existing_run(conn: AnyConnection, new: NewRun) -> tuple[str, str] | None:
    assert new.idempotency is not None
    source, event_id = new.idempotency
    params = {"b_project": new.project, "b_source": source, "b_event": event_id, "b_workflow": new.workflow}
    row = conn.execute(st.EXISTING_RUN, params).first()
    return (row.id, row.status) if row else None
