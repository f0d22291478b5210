"""Reading map steps for the API: their counts beside the steps of a run, their items a page at a time.
A run without a map step costs nothing here: :func:`counts_of` is asked only for map steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...domain.map_views import ItemFilter, ItemPage, ItemView, MapCounts, is_map
from ...domain.maps import ROUND_ATTEMPTS
from ...domain.model import NoSuchStep
from .tables import map_items, maps, runs, steps


def counts_of(conn: Connection, run_id: str, names: Sequence[str]) -> dict[str, MapCounts]:
    """The counts of the map steps ``names`` of a run that have started (one statement)."""
    if not names:
        return {}
    rows = conn.execute(sa.select(maps).where(maps.c.run_id == run_id, maps.c.step.in_(list(names)))).all()
    return {row.step: counts_row(row) for row in rows}


def counts_row(row: Any) -> MapCounts:
    """A ``maps`` row as its counts."""
    return MapCounts(row.total, row.succeeded, row.failed, row.running, row.pending, row.skipped)


def item_page(conn: Connection, where: ItemFilter) -> ItemPage | None:
    """One page of a map step's items, in index order (None: no such run in the project).

    Raises:
        NoSuchStep: the run has no step of that name, or it is not a map.
    """
    found = conn.execute(
        sa.select(steps.c.wait)
        .select_from(runs.join(steps, steps.c.run_id == runs.c.id))
        .where(runs.c.id == where.run_id, runs.c.project == where.project, steps.c.name == where.step)
    ).first()
    if found is None:
        exists = conn.execute(
            sa.select(runs.c.id).where(runs.c.id == where.run_id, runs.c.project == where.project)
        ).first()
        if exists is None:
            return None
        raise NoSuchStep(f"run {where.run_id!r} has no step {where.step!r}")
    if not is_map(found.wait):
        raise NoSuchStep(f"step {where.step!r} is not a map step")
    query = sa.select(
        map_items.c.idx,
        map_items.c.status,
        map_items.c.attempts,
        map_items.c.started_at,
        map_items.c.finished_at,
        map_items.c.output,
        map_items.c.error,
    ).where(map_items.c.run_id == where.run_id, map_items.c.step == where.step, map_items.c.idx > where.cursor)
    if where.status is not None:
        query = query.where(map_items.c.status == where.status)
    rows = conn.execute(query.order_by(map_items.c.idx).limit(where.limit + 1)).all()
    items = [
        ItemView(r.idx, r.status, r.attempts % ROUND_ATTEMPTS, r.started_at, r.finished_at, r.output, r.error)
        for r in rows
    ]
    more = len(items) > where.limit
    items = items[: where.limit]
    return ItemPage(items, str(items[-1].index) if more else None)
