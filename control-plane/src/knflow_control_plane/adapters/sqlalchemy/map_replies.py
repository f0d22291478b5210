"""Async reply mode for the items of map steps: an item's attempt (``{run}/{step}[{index}]/{n}``) is a row
of ``map_items`` (its current attempt), not of ``attempts``; what ``replies.py`` reads of one, here."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...domain.map_state import parse_item
from ...domain.model import AttemptStatus, Outcome
from ...domain.records import Claim
from .tables import map_items, maps, runs, steps


def _parts(attempt_id: str) -> tuple[str, str, int, int] | None:
    """(run id, map step, index, attempt number) of an item's attempt id."""
    run_id, _, rest = attempt_id.partition("/")
    name, _, number = rest.rpartition("/")
    parsed = parse_item(name)
    if parsed is None or not number.isdigit():
        return None
    return run_id, parsed[0], parsed[1], int(number)


def _row(conn: Connection, run_id: str, step: str, index: int) -> Any:
    return conn.execute(
        sa.select(
            map_items.c.status,
            map_items.c.attempts,
            map_items.c.inputs,
            map_items.c.started_at,
            map_items.c.output,
            map_items.c.error,
            map_items.c.logs,
            maps.c.constants,
            steps.c.action,
            steps.c.version,
            steps.c.policy,
            runs.c.trace_id,
            runs.c.project,
        )
        .join(maps, sa.and_(maps.c.run_id == map_items.c.run_id, maps.c.step == map_items.c.step))
        .join(steps, sa.and_(steps.c.run_id == map_items.c.run_id, steps.c.name == map_items.c.step))
        .join(runs, runs.c.id == map_items.c.run_id)
        .where(map_items.c.run_id == run_id, map_items.c.step == step, map_items.c.idx == index)
    ).first()


def item_attempt(conn: Connection, attempt_id: str) -> tuple[str, Claim] | None:
    """An item attempt's status (``lost`` once the item moved on to a later attempt) and its claim; None
    when there is no such item."""
    parts = _parts(attempt_id)
    row = _row(conn, *parts[:3]) if parts is not None else None
    if parts is None or row is None or row.attempts < parts[3]:
        return None
    run_id, step, index, number = parts
    status = str(row.status) if row.attempts == number else AttemptStatus.LOST.value
    deadline = float(row.started_at or 0.0) + float((row.policy or {}).get("timeout") or 0.0)
    inputs = {**(row.constants or {}), **(row.inputs or {})}
    name = f"{step}[{index}]"
    return status, Claim(
        attempt_id, run_id, name, number, row.action, row.version, inputs, deadline, row.trace_id, row.project
    )


def items_finished(conn: Connection, attempt_ids: list[str]) -> dict[str, Outcome]:
    """The outcomes of those item attempts that are no longer running (their item's record)."""
    found: dict[str, Outcome] = {}
    for attempt_id in attempt_ids:
        parts = _parts(attempt_id)
        row = _row(conn, *parts[:3]) if parts is not None else None
        if parts is None or row is None or (row.status == "running" and row.attempts == parts[3]):
            continue
        if row.attempts != parts[3] or row.status not in ("succeeded", "failed"):
            found[attempt_id] = Outcome.lost("the item moved on: this attempt's result is not recorded")
        elif row.status == "succeeded":
            output = row.output if isinstance(row.output, dict) else {"result": row.output}
            found[attempt_id] = Outcome.succeeded(output, row.logs or "")
        else:
            found[attempt_id] = Outcome.failed(row.error or {}, row.logs or "")
    return found
