"""Child runs of sub-workflow steps on SQLite and Postgres: starting one (one transaction with the
parent step's record of it), settling the parent step when a child ends, and finding children whose
parent step no longer waits for them. What a step becomes is the planner's (``domain/children.py``)."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from ...domain.children import child_outcome
from ...domain.model import RunStatus, StepStatus
from ...domain.records import Claim, NewRun, Transition, Worker
from ...domain.transitions import AttemptFinished, Context, Fact, attempt_id
from ...service.state_machine import as_transition
from . import concurrency, creation
from .raw import AnyConnection, compiled_once
from .recovery import _applied
from .tables import runs, steps
from .transitions import transition

_RUNNING = StepStatus.RUNNING.value
#: a run that still runs or waits for room (its concurrency key): its end is still to come
_GOING = [RunStatus.RUNNING.value, RunStatus.QUEUED.value]


def start_child(
    conn: AnyConnection, claim: Claim, new: NewRun, now: float, worker: Worker, rng: random.Random, use_outbox: bool
) -> Transition | None:
    """Create the child run ``new`` of the sub-workflow step ``claim`` holds, and record it on the step
    (its ``child_run_id``; its lease dropped: the step now runs without a worker), in this one
    transaction: a crash before the commit leaves neither (the lease expires and the step is retried),
    after it both. None when the step no longer runs the claimed attempt under this worker's lease
    (the run was cancelled, the lease expired): nothing is created.
    """
    # The parent's row locked (its transitions wait) and its version bumped: a completion read before
    # this changed its step must not be written over it (``transitions.SqlRunStates``).
    conn.execute(runs.update().where(runs.c.id == claim.run_id).values(version=runs.c.version + 1))
    held = conn.execute(
        sa.select(steps.c.status, steps.c.attempts, steps.c.lease_owner).where(
            steps.c.run_id == claim.run_id, steps.c.name == claim.step
        )
    ).first()
    if held is None or (held.status, held.attempts, held.lease_owner) != (_RUNNING, claim.number, worker.name):
        return None
    create = concurrency.create_keyed if new.concurrency is not None else creation.create_run  # queued if busy
    created = create(conn, new, now, worker, rng, use_outbox)
    conn.execute(
        runs.update().where(runs.c.id == created.run_id).values(parent_run_id=claim.run_id, parent_step=claim.step)
    )
    conn.execute(
        steps.update()
        .where(steps.c.run_id == claim.run_id, steps.c.name == claim.step)
        .values(child_run_id=created.run_id, lease_owner=None, lease_expires_at=None)
    )
    return created


def depth(conn: AnyConnection, run_id: str, limit: int) -> int:
    """How many parents ``run_id`` has (0 for a top-level run), counting no further than ``limit``."""
    found, current = 0, run_id
    while found < limit:
        parent = conn.execute(sa.select(runs.c.parent_run_id).where(runs.c.id == current)).scalar()
        if parent is None:
            return found
        found, current = found + 1, parent
    return found


def settle_child(
    conn: AnyConnection, child_run_id: str, now: float, worker: Worker | None, rng: random.Random, use_outbox: bool
) -> Transition | None:
    """The ended child run's outcome for its parent step (the step succeeds with its result, or fails
    naming it); None when the child runs on, has no parent, or its parent step no longer waits for it.
    Recorded once: a second call finds the step moved on (the planner's fencing)."""
    rows = list(conn.execute(_ENDED_CHILD, {"child": child_run_id}))
    if not rows:
        return None
    parent = rows[0].run_id
    plans = transition(conn, _facts(rows), Context(now, worker, rng), use_outbox=use_outbox)
    done = plans.get(parent)
    return as_transition(parent, done) if done is not None else None


def ended_children(conn: AnyConnection, limit: int = 100) -> list[Any]:
    """Running sub-workflow steps whose child run ended, with the child (the poll's look, read without a
    transaction: through the partial index of running sub-workflow steps, nothing for plain runs)."""
    return list(conn.execute(_ENDED_CHILDREN, {"limit": limit}))


def settle_children(
    conn: AnyConnection, rows: list[Any], now: float, worker: Worker | None, rng: random.Random, use_outbox: bool
) -> list[Transition]:
    """:func:`settle_child` of the ended children ``rows`` found (the poll's: a child that ended on another
    replica, or before a restart); a transition per step settled. A row read before this transaction that
    the step has moved on from since is refused by the planner's fencing."""
    plans = transition(conn, _facts(rows), Context(now, worker, rng), skip_locked=True, use_outbox=use_outbox)
    return _applied(plans)


def _facts(rows: list[Any]) -> dict[str, list[Fact]]:
    facts: dict[str, list[Fact]] = defaultdict(list)
    for r in rows:
        outcome = child_outcome(r.id, r.workflow, r.status, r.result, r.error)
        facts[r.run_id].append(AttemptFinished(r.name, attempt_id(r.run_id, r.name, r.attempts), outcome))
    return facts


def orphans(conn: AnyConnection, limit: int = 100) -> list[tuple[str, str]]:
    """(child run, project) of running child runs whose parent step no longer runs them (it was cancelled,
    its run timed out, or a retry started another child): each is to be cancelled. Read without a
    transaction, through the partial index of child runs still going."""
    return [(r.id, r.project) for r in conn.execute(_ORPHANS, {"limit": limit})]


# Statements built once (the raw path compiles each once). The status tests are literal SQL, as the
# predicates of the partial indexes they read are (SQLite uses a partial index only for a constant).
_CHILD = runs.alias("child")
_PARENT = steps.alias("parent")
_STEP_RUNNING = steps.c.status == sa.literal_column(f"'{_RUNNING}'")
_CHILD_GOING = _CHILD.c.status.in_([sa.literal_column(f"'{s}'") for s in _GOING])
_ENDED = (
    sa.select(
        steps.c.run_id,
        steps.c.name,
        steps.c.attempts,
        _CHILD.c.id,
        _CHILD.c.workflow,
        _CHILD.c.status,
        _CHILD.c.result,
        _CHILD.c.error,
    )
    .select_from(steps.join(_CHILD, _CHILD.c.id == steps.c.child_run_id))
    .where(steps.c.child_run_id.is_not(None), _STEP_RUNNING, sa.not_(_CHILD_GOING))
)
_ENDED_CHILD = _ENDED.where(steps.c.child_run_id == sa.bindparam("child"))
_ENDED_CHILDREN = _ENDED.limit(sa.bindparam("limit"))  # no ORDER BY: SQLite would walk every step's key for it
_ORPHANS = (
    sa.select(runs.c.id, runs.c.project)
    .select_from(
        runs.outerjoin(_PARENT, sa.and_(_PARENT.c.run_id == runs.c.parent_run_id, _PARENT.c.name == runs.c.parent_step))
    )
    .where(
        runs.c.parent_run_id.is_not(None),
        runs.c.status.in_([sa.literal_column(f"'{s}'") for s in _GOING]),
        sa.or_(
            _PARENT.c.name.is_(None),
            _PARENT.c.status != _RUNNING,
            _PARENT.c.child_run_id.is_(None),
            _PARENT.c.child_run_id != runs.c.id,
        ),
    )
    .limit(sa.bindparam("limit"))
)


def running_children(conn: AnyConnection, run_id: str) -> list[str]:
    """The child runs of ``run_id`` still running (or queued)."""
    query = sa.select(runs.c.id).where(runs.c.parent_run_id == run_id, runs.c.status.in_(_GOING))
    return list(conn.execute(query).scalars())


compiled_once(globals())  # the poll reads these every interval
