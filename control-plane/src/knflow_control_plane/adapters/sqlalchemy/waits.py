"""Transitions of steps that wait without a worker (approvals, sleeps): a decision, and deadlines passing. Each
is a fact for the state machine (``transitions``); nothing here decides what the step becomes."""

from __future__ import annotations

import random
from collections import defaultdict

import sqlalchemy as sa

from ...domain.model import NoSuchStep, StepStatus, TransitionError
from ...domain.records import Transition
from ...domain.transitions import ApprovalDecided, Context, Fact, TimerFired
from ...domain.waits import not_decided
from ...service.state_machine import as_transition
from .raw import AnyConnection
from .recovery import _applied, _in_project
from .tables import steps
from .transitions import transition


def decide(
    conn: AnyConnection, run_id: str, project: str, decision: ApprovalDecided, now: float, use_outbox: bool
) -> Transition | None:
    """Approve or reject the waiting approval of a run; the steps it releases become ready (claimed by
    the orchestrator's next poll).

    Returns None when the run does not exist in ``project``.

    Raises:
        NoSuchStep: the run has no step of that name.
        TransitionError: the step is not waiting for a decision (naming what it is).
    """
    if _in_project(conn, run_id, project) is None:
        return None
    row = conn.execute(
        sa.select(steps.c.status, steps.c.wait).where(steps.c.run_id == run_id, steps.c.name == decision.step)
    ).first()
    if row is None:
        raise NoSuchStep(f"no step {decision.step!r}")
    facts: list[Fact] = [decision]
    plans = transition(conn, {run_id: facts}, Context(now), use_outbox=use_outbox)
    done = as_transition(run_id, plans[run_id])
    if done.duplicate:
        raise TransitionError(not_decided(decision.step, row.status, row.wait))
    return done


def fire_timers(
    conn: AnyConnection, now: float, rng: random.Random, use_outbox: bool, limit: int = 100
) -> list[Transition]:
    """Waiting steps whose deadline passed (stored: it survives restarts) end as their kind says (a sleep
    succeeds, an approval fails with a timeout); a transition per step."""
    due = conn.execute(
        sa.select(steps.c.run_id, steps.c.name)
        .where(steps.c.status == StepStatus.WAITING.value, steps.c.wake_at <= now)
        .limit(limit)
    ).all()
    facts: dict[str, list[Fact]] = defaultdict(list)
    for row in sorted(due):
        facts[row.run_id].append(TimerFired(row.name))
    if not facts:
        return []
    plans = transition(conn, facts, Context(now, None, rng), skip_locked=True, use_outbox=use_outbox)
    return _applied(plans)
