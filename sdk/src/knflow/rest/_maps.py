"""Map steps as the API shows them: a step's counts of items, and its items a page at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ._base import Reply

ItemStatus = Literal["pending", "running", "succeeded", "failed", "skipped", "cancelled"]


class MapCounts(Reply):
    """How many items of a map step are in each state (``skipped`` also counts items cancelled with
    their run)."""

    total: int
    succeeded: int
    failed: int
    running: int
    pending: int
    skipped: int


class MapItem(Reply):
    """One item of a map step: its state, its attempts so far, and its output or error once it ended."""

    index: int
    status: ItemStatus
    attempts: int
    started_at: datetime | None = None
    finished_at: datetime | None = None
    output: Any = None
    error: dict[str, Any] | None = None


class MapItemPage(Reply):
    """``GET /v1/runs/{id}/steps/{step}/items``: items in index order; ``next_cursor`` continues it."""

    items: list[MapItem]
    next_cursor: str | None = None
