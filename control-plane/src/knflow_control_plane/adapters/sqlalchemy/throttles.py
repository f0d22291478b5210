"""Throttled steps on SQL (``domain/throttles.py`` decides, ``service/throttles.py`` dispatches): which
actions have steps held by their ``max_concurrency``, and, holding an action's lock (Postgres: an advisory
lock on its key, to the transaction's end), how many of its steps run and which wait, in order."""

from __future__ import annotations

import random
from typing import Any

import sqlalchemy as sa

from ...domain.model import StepStatus
from ...domain.records import Transition, Worker
from ...domain.throttles import Throttled, action_key
from ...domain.transitions import Context
from ...service.state_machine import apply_facts, as_transition
from ...service.throttles import dispatch
from .concurrency import lock_key
from .dialects import policy_of
from .raw import AnyConnection, compiled_once
from .tables import runs, steps

THROTTLED, RUNNING = StepStatus.THROTTLED.value, StepStatus.RUNNING.value
_of_project = steps.join(runs, runs.c.id == steps.c.run_id)
_action = (steps.c.action == sa.bindparam("action"), runs.c.project == sa.bindparam("project"))
THROTTLED_ACTIONS = (
    sa.select(runs.c.project, steps.c.action)
    .select_from(_of_project)
    .where(steps.c.status == THROTTLED)
    .distinct()
    .limit(sa.bindparam("bound"))
)
RUNNING_OF_ACTION = sa.select(sa.func.count()).select_from(_of_project).where(steps.c.status == RUNNING, *_action)
WAITING_OF_ACTION = (
    sa.select(steps.c.run_id, steps.c.name, sa.cast(steps.c.policy, sa.Text).label("policy"))
    .select_from(_of_project)
    .where(steps.c.status == THROTTLED, *_action)
    .order_by(steps.c.ready_at, steps.c.run_id, steps.c.name)
    .limit(sa.bindparam("bound"))
)


def throttled_actions(conn: AnyConnection) -> list[tuple[str, str]]:
    """The (project, action) pairs with throttled steps (a read of the few throttled rows)."""
    return sorted((row.project, row.action) for row in conn.execute(THROTTLED_ACTIONS, {"bound": 1000}))


def throttle_of(conn: AnyConnection, project: str, action: str, bound: int) -> tuple[int, list[Throttled]]:
    """Lock the action's slots; its steps running, and the first ``bound`` throttled ones in order."""
    lock_key(conn, action_key(project, action))
    params: dict[str, Any] = {"project": project, "action": action, "bound": bound}
    running = int(conn.execute(RUNNING_OF_ACTION, params).scalar_one())
    rows = conn.execute(WAITING_OF_ACTION, params).all()
    return running, [Throttled(row.run_id, row.name, policy_of(row.policy).max_concurrency or 1) for row in rows]


def dispatch_throttled(
    conn: AnyConnection,
    actions: list[tuple[str, str]],
    now: float,
    worker: Worker,
    rng: random.Random,
    use_outbox: bool,
) -> list[Transition]:
    """Start the throttled steps of ``actions`` that have room (see :func:`~...service.throttles.dispatch`)."""
    from .transitions import SqlRunStates  # it reads the throttles through this module

    states = SqlRunStates(conn, use_outbox=use_outbox)
    plans = dispatch(states, actions, Context(now, worker, rng), apply_facts)
    return [as_transition(done.run_id, done) for done in plans]


compiled_once(globals())  # the poll reads these every interval
