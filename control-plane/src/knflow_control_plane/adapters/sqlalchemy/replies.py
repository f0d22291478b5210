"""What async reply mode reads and writes in the run store (SQLite or Postgres), each call one transaction.

Kept beside the store rather than in it: three small statements that only reply mode uses. The
transitions themselves (recording an outcome) stay the store's ``complete``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...domain.model import AttemptStatus, Outcome
from ...domain.records import Claim
from . import map_replies, recovery
from .database import Database
from .tables import attempts, runs, steps


class SqlAlchemyReplies:
    """The ``ReplyStore`` port on the run store's database.

    Args:
        database: the run store's database (:attr:`SqlAlchemyStore.db`).
    """

    def __init__(self, database: Database):
        self.db = database

    async def attempt(self, attempt_id: str) -> tuple[str, Claim] | None:
        """The attempt's status and what it was claimed with; None when there is no such attempt."""
        return await self.db.run(_attempt, attempt_id)

    async def finished(self, attempt_ids: list[str]) -> dict[str, Outcome]:
        """The outcomes recorded for those of ``attempt_ids`` that are no longer running."""
        return await self.db.run(_finished, attempt_ids) if attempt_ids else {}

    async def hold_leases(self, worker: str, holds: list[tuple[str, str, float]]) -> int:
        """Set the leases ``worker`` holds on steps ``(run_id, step, until)``; how many it still holds."""
        return await self.db.run(recovery.hold_leases, worker, holds) if holds else 0


def _attempt(conn: Connection, attempt_id: str) -> tuple[str, Claim] | None:
    if "[" in attempt_id:  # an item of a map step
        return map_replies.item_attempt(conn, attempt_id)
    row = conn.execute(
        sa.select(
            attempts.c.status,
            attempts.c.run_id,
            attempts.c.step,
            attempts.c.number,
            attempts.c.inputs,
            attempts.c.started_at,
            steps.c.action,
            steps.c.version,
            steps.c.policy,
            runs.c.trace_id,
            runs.c.project,
        )
        .join(steps, sa.and_(steps.c.run_id == attempts.c.run_id, steps.c.name == attempts.c.step))
        .join(runs, runs.c.id == attempts.c.run_id)
        .where(attempts.c.id == attempt_id)
    ).first()
    if row is None:
        return None
    deadline = float(row.started_at or 0.0) + float((row.policy or {}).get("timeout") or 0.0)
    claim = Claim(
        attempt_id,
        row.run_id,
        row.step,
        row.number,
        row.action,
        row.version,
        row.inputs or {},
        deadline,
        row.trace_id,
        row.project,
    )
    return str(row.status), claim


def _finished(conn: Connection, attempt_ids: list[str]) -> dict[str, Outcome]:
    items = [a for a in attempt_ids if "[" in a]  # items of map steps
    if items:
        rest = [a for a in attempt_ids if "[" not in a]
        return {**map_replies.items_finished(conn, items), **(_finished(conn, rest) if rest else {})}
    rows = conn.execute(
        sa.select(attempts.c.id, attempts.c.status, attempts.c.outputs, attempts.c.error, attempts.c.logs).where(
            attempts.c.id.in_(attempt_ids), attempts.c.status != AttemptStatus.RUNNING.value
        )
    )
    return {row.id: _outcome(row) for row in rows}


def _outcome(row: Any) -> Outcome:
    return Outcome(AttemptStatus(row.status), outputs=row.outputs, error=row.error, logs=row.logs or "")
