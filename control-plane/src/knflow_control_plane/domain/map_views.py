"""A map step as its row marks it, and its progress as the API shows it: its counts, and its items a page
at a time. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from knflow.spec import StepSpec

#: what an item's ``status`` may be
ITEM_STATUSES = ("pending", "running", "succeeded", "failed", "skipped", "cancelled")
#: the most items a page holds
MAX_ITEMS_PAGE = 1000


@dataclass(frozen=True)
class MapCounts:
    """How many items of a map step are in each state (``skipped`` counts the cancelled ones too)."""

    total: int
    succeeded: int
    failed: int
    running: int
    pending: int
    skipped: int


@dataclass(frozen=True)
class ItemView:
    """One item of a map step, as the API shows it."""

    index: int
    status: str
    attempts: int
    started_at: float | None
    finished_at: float | None
    output: Any = None
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class ItemFilter:
    """Which items of a map step to list: of one status or all, after ``cursor`` (the last index seen)."""

    run_id: str
    step: str
    project: str = "default"
    status: str | None = None
    cursor: int = -1
    limit: int = 100


@dataclass(frozen=True)
class ItemPage:
    """One page of items in index order, and the cursor of the next page, if any."""

    items: list[ItemView]
    next_cursor: str | None


def map_wait(step: StepSpec) -> dict[str, Any] | None:
    """What the row of a map step keeps of its spec in its ``wait`` (a map holds no worker itself: it waits
    for its items); None for a step that is not mapped."""
    if step.map is None:
        return None
    return {"kind": "map", **step.map.model_dump(mode="json")}


def is_map(wait: Any) -> bool:
    """Whether a step's stored ``wait`` marks it a map step (a map waits for its items, holding no worker)."""
    return isinstance(wait, Mapping) and wait.get("kind") == "map"
