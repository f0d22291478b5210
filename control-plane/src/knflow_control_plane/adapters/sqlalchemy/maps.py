"""Map steps in SQL (SQLite and Postgres alike): what the planner asks to load of them (their counts,
items the facts name, the next pending items, every result to join) and the writes of its plans (a map's
row and items in bulk as it starts, the items it moves, its counts as deltas, the items changed by state).
Nothing here decides; a plan without a map costs one truth test (:func:`persist`).

The statements are built once, at import: the raw driver path compiles each once (``raw``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from ...domain.map_state import COUNTS, Item, MapChange, MapNeed, MapState, item_name, parse_item
from ...domain.transitions import Context, Plan, RunState
from .raw import AnyConnection, compiled_once
from .tables import map_items, maps

_here = sa.and_(map_items.c.run_id == sa.bindparam("b_run"), map_items.c.step == sa.bindparam("b_step"))
_map_here = sa.and_(maps.c.run_id == sa.bindparam("b_run"), maps.c.step == sa.bindparam("b_step"))
_STATE = ("idx", "status", "attempts", "budget_start", "infra_failures", "ready_at", "lease_owner")
_STATE_MORE = ("lease_expires_at", "started_at", "finished_at")
#: the columns of an item the state machine reads (its inputs only when it is about to be launched)
_ITEM_COLUMNS = [map_items.c[c] for c in (*_STATE, *_STATE_MORE)]

LOAD_MAP = sa.select(maps).where(_map_here)
LOAD_ITEMS = sa.select(*_ITEM_COLUMNS).where(_here, map_items.c.idx.in_(sa.bindparam("b_idx", expanding=True)))
LOAD_NEXT = (
    sa.select(*_ITEM_COLUMNS, map_items.c.inputs)
    .where(_here, map_items.c.status == "pending")
    .order_by(map_items.c.idx)
    .limit(sa.bindparam("b_limit"))
)
LOAD_JOINED = (
    sa.select(map_items.c.status, map_items.c.output, map_items.c.error).where(_here).order_by(map_items.c.idx)
)

INSERT_MAP = maps.insert()
INSERT_ITEMS = map_items.insert()
_WRITTEN = (
    "status",
    "attempts",
    "budget_start",
    "infra_failures",
    "ready_at",
    "lease_owner",
    "lease_expires_at",
    "output",
    "error",
    "started_at",
    "finished_at",
)
WRITE_ITEM = (
    map_items.update()
    .where(_here, map_items.c.idx == sa.bindparam("b_idx"))
    .values(
        {
            **{c: sa.bindparam(f"w_{c}", type_=map_items.c[c].type) for c in _WRITTEN},
            "logs": sa.func.coalesce(sa.bindparam("w_logs", type_=sa.Text), map_items.c.logs),
        }
    )
)
ADD_COUNTS = maps.update().where(_map_here).values({c: maps.c[c] + sa.bindparam(f"d_{c}") for c in COUNTS})
_pending, _running = map_items.c.status == "pending", map_items.c.status == "running"
BULK: dict[str, list[Any]] = {
    "skip": [
        map_items.update().where(_here, _pending).values(status="skipped"),
        maps.update().where(_map_here).values(skipped=maps.c.skipped + maps.c.pending, pending=0),
    ],
    "cancel": [
        map_items.update()
        .where(_here, sa.or_(_pending, _running))
        .values(
            status=sa.case((_running, "cancelled"), else_="skipped"),
            lease_owner=None,
            lease_expires_at=None,
            finished_at=sa.bindparam("b_now"),
        ),
        maps.update()
        .where(_map_here)
        .values(skipped=maps.c.skipped + maps.c.pending + maps.c.running, pending=0, running=0),
    ],
    "again": [
        map_items.update()
        .where(_here, map_items.c.status != "succeeded")
        .values(
            status="pending",
            budget_start=map_items.c.attempts,
            infra_failures=0,
            ready_at=None,
            lease_owner=None,
            lease_expires_at=None,
            error=None,
            finished_at=None,
        ),
        maps.update().where(_map_here).values(pending=maps.c.total - maps.c.succeeded, running=0, failed=0, skipped=0),
    ],
    "drop": [map_items.delete().where(_here), maps.delete().where(_map_here)],
}
EXPIRED_ITEMS = (
    sa.select(map_items.c.run_id, map_items.c.step, map_items.c.idx, map_items.c.attempts)
    .where(_running, map_items.c.lease_expires_at < sa.bindparam("b_now"))
    .limit(sa.bindparam("b_limit"))
)
HOLD_ITEM = (
    map_items.update()
    .where(
        _here,
        map_items.c.idx == sa.bindparam("b_idx"),
        map_items.c.lease_owner == sa.bindparam("b_worker"),
        _running,
    )
    .values(lease_expires_at=sa.bindparam("until"))
)
compiled_once(globals())  # every statement above, once per dialect (``raw``)


def load(conn: AnyConnection, state: RunState, need: MapNeed) -> RunState:
    """``state`` with what ``need`` asks of its map steps loaded too."""
    loaded: dict[str, MapState | None] = dict(state.maps)
    named = {step for step, _ in need.items} | {step for step, _ in need.next} | need.joined | need.rows
    for step in sorted(named - set(loaded)):
        row = conn.execute(LOAD_MAP, {"b_run": state.run_id, "b_step": step}).first()
        loaded[step] = _map(row) if row is not None else None
    for step in sorted({step for step, _ in need.items}):
        found = loaded[step]
        asked = sorted(index for s, index in need.items if s == step)
        if found is None:
            continue
        rows = conn.execute(LOAD_ITEMS, {"b_run": state.run_id, "b_step": step, "b_idx": asked}).all()
        items = {index: Item(index, "absent") for index in asked} | {row.idx: _item(row) for row in rows}
        loaded[step] = replace(found, items={**found.items, **items})
    for step, count in sorted(need.next):
        found = loaded[step]
        if found is not None and found.next_asked < count:
            rows = conn.execute(LOAD_NEXT, {"b_run": state.run_id, "b_step": step, "b_limit": count}).all()
            loaded[step] = replace(found, next=tuple(_item(row, row.inputs) for row in rows), next_asked=count)
    for step in sorted(need.joined):
        found = loaded[step]
        if found is not None and found.joined is None:
            rows = conn.execute(LOAD_JOINED, {"b_run": state.run_id, "b_step": step}).all()
            loaded[step] = replace(found, joined=tuple((r.status, r.output, r.error) for r in rows))
    return replace(state, maps=loaded)


def _map(row: Any) -> MapState:
    counts = {c: getattr(row, c) for c in COUNTS}
    return MapState(row.step, row.total, row.max_parallel, row.on_error, row.constants or {}, counts)


def _item(row: Any, inputs: Any = None) -> Item:
    return Item(
        row.idx, row.status, inputs, row.attempts, row.budget_start, row.infra_failures, row.ready_at,
        row.lease_owner, row.lease_expires_at, None, None, None, row.started_at, row.finished_at,
    )  # fmt: skip


def persist(conn: AnyConnection, plans: Sequence[tuple[Plan, Context]]) -> None:
    """The map steps' writes of every plan (after the steps' own: a map's step row exists already)."""
    for done, context in plans:
        for change in done.maps.values():
            _write(conn, done.run_id, change, context.now)


def _write(conn: AnyConnection, run_id: str, change: MapChange, now: float) -> None:
    key = {"b_run": run_id, "b_step": change.step}
    if "drop" in change.bulk:  # the map is forgotten, whatever came before in the plan
        for statement in BULK["drop"]:
            conn.execute(statement, key)
        return
    if change.created is not None:
        insert_map(conn, run_id, change.created, change.new_items)
    if change.items:
        rows = [_item_row(key, item) for item in change.items.values()]
        conn.execute(WRITE_ITEM, rows[0] if len(rows) == 1 else rows)
    if any(change.deltas.values()):
        conn.execute(ADD_COUNTS, {**key, **{f"d_{c}": change.deltas.get(c, 0) for c in COUNTS}})
    for op in change.bulk:
        for statement in BULK[op]:
            conn.execute(statement, {**key, "b_now": now})


def insert_map(conn: AnyConnection, run_id: str, row: MapState, items: Sequence[Item]) -> None:
    """A map's row and every item, as it starts (one ``executemany`` for the items)."""
    conn.execute(
        INSERT_MAP,
        {
            "run_id": run_id,
            "step": row.step,
            "total": row.total,
            "max_parallel": row.max_parallel,
            "on_error": row.on_error,
            "constants": dict(row.constants),
            **{c: row.counts[c] for c in COUNTS},
        },
    )
    if items:
        rows = [
            {
                "run_id": run_id,
                "step": row.step,
                "idx": i.index,
                "status": i.status,
                "inputs": dict(i.inputs or {}),
                "attempts": i.attempts,
                "budget_start": i.budget_start,
            }
            for i in items
        ]
        conn.execute(INSERT_ITEMS, rows)


def _item_row(key: dict[str, str], item: Item) -> dict[str, Any]:
    fields = item.__dict__
    row = {f"w_{c}": fields[c] for c in _WRITTEN}
    row.update(key, b_idx=item.index, w_logs=item.logs)
    return row


def expired_items(conn: AnyConnection, now: float, limit: int) -> list[tuple[str, str, int]]:
    """(run id, item name, attempt) of running items whose lease ran out (their worker stopped)."""
    rows = conn.execute(EXPIRED_ITEMS, {"b_now": now, "b_limit": limit}).all()
    return [(row.run_id, item_name(row.step, row.idx), row.attempts) for row in rows]


def hold_items(conn: AnyConnection, worker: str, holds: Sequence[tuple[str, str, float]]) -> int:
    """Set the lease end of each (run id, item name, until) that ``worker`` still holds; the row count."""
    rows = []
    for run_id, name, until in holds:
        parsed = parse_item(name)
        if parsed is not None:
            rows.append({"b_run": run_id, "b_step": parsed[0], "b_idx": parsed[1], "b_worker": worker, "until": until})
    return int(conn.execute(HOLD_ITEM, rows).rowcount) if rows else 0
