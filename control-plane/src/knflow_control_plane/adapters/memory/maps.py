"""Map steps in memory: each one's counts and its items (the twin of the ``maps`` and ``map_items``
tables), kept as the state machine's plans say, and read a page at a time."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...domain.map_state import COUNTS, Item, MapChange, MapNeed, MapState, item_name, parse_item
from ...domain.map_views import ItemFilter, ItemPage, ItemView, MapCounts
from ...domain.transitions import RunState
from ._json import stored

#: an item's columns the state machine writes (its inputs are written once, as its map starts)
_WRITTEN = (
    *("status", "attempts", "budget_start", "infra_failures", "ready_at", "lease_owner", "lease_expires_at"),
    *("output", "error", "started_at", "finished_at"),
)


class MemoryMaps:
    """The maps of every run held in memory: a row of counts per map step, a row per item."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.items: dict[tuple[str, str], list[dict[str, Any]]] = {}  # by index

    def counts(self, run_id: str, step: str) -> MapCounts | None:
        """The counts of a map step that has started, or None."""
        row = self.rows.get((run_id, step))
        if row is None:
            return None
        return MapCounts(row["total"], row["succeeded"], row["failed"], row["running"], row["pending"], row["skipped"])

    def page(self, where: ItemFilter) -> ItemPage:
        """One page of a map step's items, in index order (none before it started)."""
        chosen = [
            item
            for item in self.items.get((where.run_id, where.step), [])[where.cursor + 1 :]
            if where.status is None or item["status"] == where.status
        ]
        page = [_view(item) for item in chosen[: where.limit]]
        more = len(chosen) > where.limit
        return ItemPage(page, str(page[-1].index) if more else None)

    # -- the state machine's loads and writes (as ``adapters/sqlalchemy/maps.py``) -------------------
    def load(self, state: RunState, need: MapNeed) -> RunState:
        """``state`` with what ``need`` asks of its map steps loaded too."""
        loaded: dict[str, MapState | None] = dict(state.maps)
        named = {step for step, _ in need.items} | {step for step, _ in need.next} | need.joined | need.rows
        for step in named - set(loaded):
            row = self.rows.get((state.run_id, step))
            counts = {c: row[c] for c in COUNTS} if row else {}
            loaded[step] = (
                MapState(step, row["total"], row["max_parallel"], row["on_error"], row["constants"], counts)
                if row
                else None
            )
        for step, index in need.items:
            found, items = loaded[step], self.items.get((state.run_id, step), [])
            if found is not None:
                item = _item(items[index]) if 0 <= index < len(items) else Item(index, "absent")
                loaded[step] = replace(found, items={**found.items, index: item})
        for step, count in need.next:
            found = loaded[step]
            if found is not None and found.next_asked < count:
                pending = [i for i in self.items.get((state.run_id, step), []) if i["status"] == "pending"][:count]
                loaded[step] = replace(found, next=tuple(_item(i, i["inputs"]) for i in pending), next_asked=count)
        for step in need.joined:
            found = loaded[step]
            if found is not None and found.joined is None:
                rows = self.items.get((state.run_id, step), [])
                loaded[step] = replace(found, joined=tuple((i["status"], i["output"], i["error"]) for i in rows))
        return replace(state, maps=loaded)

    def write(self, run_id: str, change: MapChange, now: float) -> None:
        """Keep what a plan changed of one map step."""
        key = (run_id, change.step)
        if "drop" in change.bulk:  # the map is forgotten, whatever came before in the plan
            self.rows.pop(key, None)
            self.items.pop(key, None)
            return
        if change.created is not None:
            made = change.created
            self.rows[key] = {
                "total": made.total,
                "max_parallel": made.max_parallel,
                "on_error": made.on_error,
                "constants": stored(dict(made.constants)),
                **made.counts,
            }
            self.items[key] = [_row(i) for i in change.new_items]
        items, row = self.items.get(key, []), self.rows.get(key)
        for item in change.items.values():
            kept = items[item.index]
            kept.update({c: stored(getattr(item, c)) for c in _WRITTEN})
            if item.logs is not None:
                kept["logs"] = item.logs
        if row is not None:
            for count, delta in change.deltas.items():
                row[count] += delta
        for op in change.bulk:
            _bulk(op, items, row, now)

    def expired(self, now: float) -> list[tuple[str, str, int]]:
        """(run id, item name, attempt) of running items whose lease ran out."""
        return sorted(
            (run_id, item_name(step, item["idx"]), item["attempts"])
            for (run_id, step), items in self.items.items()
            for item in items
            if item["status"] == "running" and item["lease_expires_at"] is not None and item["lease_expires_at"] < now
        )

    def hold(self, worker: str, run_id: str, name: str, until: float) -> bool:
        """Extend the lease of the item ``name`` if ``worker`` still holds it."""
        parsed = parse_item(name)
        items = self.items.get((run_id, parsed[0]), []) if parsed else []
        item = items[parsed[1]] if parsed and 0 <= parsed[1] < len(items) else None
        if item is None or item["status"] != "running" or item["lease_owner"] != worker:
            return False
        item["lease_expires_at"] = until
        return True

    def forget(self, run_ids: set[str]) -> None:
        """Drop the maps of these runs (their project is deleted)."""
        for table in (self.rows, self.items):
            for key in [k for k in table if k[0] in run_ids]:
                del table[key]


def _view(item: dict[str, Any]) -> ItemView:
    return ItemView(
        item["idx"],
        item["status"],
        item["attempts"],
        item["started_at"],
        item["finished_at"],
        item["output"],
        item["error"],
    )


def _row(item: Item) -> dict[str, Any]:
    row = {c: getattr(item, c) for c in _WRITTEN}
    return {**row, "idx": item.index, "inputs": stored(dict(item.inputs or {})), "logs": ""}


def _item(row: dict[str, Any], inputs: Any = None) -> Item:
    fields = {c: row[c] for c in _WRITTEN if c not in ("output", "error")}
    return Item(row["idx"], inputs=inputs, **fields)


def _bulk(op: str, items: list[dict[str, Any]], row: dict[str, Any] | None, now: float) -> None:
    """Items changed by state (``MapChange.bulk``), and the counts with them."""
    if op == "skip":
        for item in items:
            if item["status"] == "pending":
                item["status"] = "skipped"
        if row is not None:
            row["skipped"], row["pending"] = row["skipped"] + row["pending"], 0
    elif op == "cancel":
        for item in items:
            if item["status"] in ("pending", "running"):
                cancelled = item["status"] == "running"
                item.update(status="cancelled" if cancelled else "skipped", lease_owner=None, lease_expires_at=None)
                item["finished_at"] = now
        if row is not None:
            row["skipped"] += row["pending"] + row["running"]
            row["pending"] = row["running"] = 0
    elif op == "again":
        for item in items:
            if item["status"] != "succeeded":
                item.update(status="pending", budget_start=item["attempts"], infra_failures=0, ready_at=None)
                item.update(lease_owner=None, lease_expires_at=None, error=None, finished_at=None)
        if row is not None:
            row.update(pending=row["total"] - row["succeeded"], running=0, failed=0, skipped=0)
