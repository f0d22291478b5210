"""The index of steps waiting for an event, on SQL: a step's key as it starts waiting, the shapes events
are keyed by, and the read of the steps waiting on some keys (``domain/event_waits.py`` makes the keys).

A waiting step's key is in ``steps.wait_key``, indexed only while the step waits (``ix_steps_wait_key``,
partial on ``status = 'waiting'``): a step that stops waiting (resumed, timed out, its run cancelled)
leaves the index with that status change, nothing to clean up. The shapes in ``event_wait_shapes`` are
one row per distinct (type, project, matched paths).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ...domain.event_waits import EventWait
from ...domain.model import StepStatus
from .raw import AnyConnection, compiled_once
from .tables import event_wait_shapes, steps

_KEY = (
    sa.update(steps)
    .where(steps.c.run_id == sa.bindparam("b_run"), steps.c.name == sa.bindparam("b_step"))
    .values(wait_key=sa.bindparam("b_key"))
)
_SHAPE = {
    "postgresql": postgresql.insert(event_wait_shapes).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(event_wait_shapes).on_conflict_do_nothing(),
}
SHAPES_OF_TYPE = sa.select(event_wait_shapes.c.project, event_wait_shapes.c.shape).where(
    event_wait_shapes.c.type == sa.bindparam("b_type")
)
SHAPES_IN_PROJECT = SHAPES_OF_TYPE.where(event_wait_shapes.c.project == sa.bindparam("b_project"))
WAITING = sa.select(steps.c.run_id, steps.c.name).where(
    steps.c.status == StepStatus.WAITING.value, steps.c.wait_key.in_(sa.bindparam("b_keys", expanding=True))
)


def register(conn: AnyConnection, waits: Sequence[EventWait]) -> None:
    """Index the steps that started waiting for an event (in the transaction that made them wait)."""
    conn.execute(_KEY, [{"b_run": w.run_id, "b_step": w.step, "b_key": w.key} for w in waits])
    shapes = sorted({(w.type, w.project, w.shape) for w in waits})
    statement = _SHAPE.get(conn.dialect.name, _SHAPE["sqlite"])
    conn.execute(statement, [{"type": t, "project": p, "shape": s} for t, p, s in shapes])


compiled_once(globals())  # each event reads these
