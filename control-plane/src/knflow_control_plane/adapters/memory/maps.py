"""Map steps in memory: each one's counts and its items (the twin of the ``maps`` and ``map_items``
tables), kept as the state machine's plans say, and read a page at a time."""

from __future__ import annotations

from typing import Any

from ...domain.map_views import ItemFilter, ItemPage, ItemView, MapCounts

_COUNTED = ("pending", "running", "succeeded", "failed", "skipped")


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
