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
from .raw import AnyConnection
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
    conn.execute(
        sa.select(runs.c.id).where(runs.c.id == claim.run_id).with_for_update()
    )  # the parent's transitions wait
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
    child = conn.execute(
        sa.select(runs.c.status, runs.c.workflow, runs.c.result, runs.c.error, runs.c.parent_run_id).where(
            runs.c.id == child_run_id
        )
    ).first()
    if child is None or child.parent_run_id is None or child.status in _GOING:
        return None
    rows = _waiting_for(conn, steps.c.child_run_id == child_run_id)
    if not rows:
        return None
    plans = transition(conn, _facts(rows), Context(now, worker, rng), use_outbox=use_outbox)
    done = plans.get(child.parent_run_id)
    return as_transition(child.parent_run_id, done) if done is not None else None


def settle_children(
    conn: AnyConnection, now: float, worker: Worker | None, rng: random.Random, use_outbox: bool, limit: int = 100
) -> list[Transition]:
    """:func:`settle_child` of every ended child whose parent step still waits for it (the poll's: a
    child that ended on another replica, or before a restart); a transition per step settled."""
    rows = _waiting_for(conn, steps.c.child_run_id.is_not(None), limit)
    if not rows:
        return []
    plans = transition(conn, _facts(rows), Context(now, worker, rng), skip_locked=True, use_outbox=use_outbox)
    return _applied(plans)


def _waiting_for(conn: AnyConnection, which: Any, limit: int = 100) -> list[Any]:
    """Running sub-workflow steps whose child run ended (``which`` picks the steps), with the child."""
    child = runs.alias("child")
    query = (
        sa.select(
            steps.c.run_id,
            steps.c.name,
            steps.c.attempts,
            child.c.id,
            child.c.workflow,
            child.c.status,
            child.c.result,
            child.c.error,
        )
        .select_from(steps.join(child, child.c.id == steps.c.child_run_id))
        .where(which, steps.c.status == _RUNNING, child.c.status.not_in(_GOING))
        .order_by(steps.c.run_id, steps.c.name)
        .limit(limit)
    )
    return list(conn.execute(query).all())


def _facts(rows: list[Any]) -> dict[str, list[Fact]]:
    facts: dict[str, list[Fact]] = defaultdict(list)
    for r in rows:
        outcome = child_outcome(r.id, r.workflow, r.status, r.result, r.error)
        facts[r.run_id].append(AttemptFinished(r.name, attempt_id(r.run_id, r.name, r.attempts), outcome))
    return facts


def orphans(conn: AnyConnection, limit: int = 100) -> list[tuple[str, str]]:
    """(child run, project) of running child runs whose parent step no longer runs them (it was cancelled,
    its run timed out, or a retry started another child): each is to be cancelled."""
    parent = steps.alias("parent")
    query = (
        sa.select(runs.c.id, runs.c.project)
        .select_from(
            runs.outerjoin(
                parent, sa.and_(parent.c.run_id == runs.c.parent_run_id, parent.c.name == runs.c.parent_step)
            )
        )
        .where(
            runs.c.parent_run_id.is_not(None),
            runs.c.status.in_(_GOING),
            sa.or_(
                parent.c.name.is_(None),
                parent.c.status != _RUNNING,
                parent.c.child_run_id.is_(None),
                parent.c.child_run_id != runs.c.id,
            ),
        )
        .limit(limit)
    )
    return [(r.id, r.project) for r in conn.execute(query)]


def running_children(conn: AnyConnection, run_id: str) -> list[str]:
    """The child runs of ``run_id`` still running (or queued)."""
    query = sa.select(runs.c.id).where(runs.c.parent_run_id == run_id, runs.c.status.in_(_GOING))
    return list(conn.execute(query).scalars())
