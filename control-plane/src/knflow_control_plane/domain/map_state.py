"""What the run state machine reads and writes of map steps: their counts and items. No I/O.

An item's attempts run under the name ``step[index]`` (its claims, attempt ids ``{run}/{step}[{index}]/{n}``,
files and logs): the facts about an item (:class:`~.transitions.AttemptFinished`,
:class:`~.transitions.LeaseExpired`) name it so, and :mod:`.maps` finds its map step from that name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_ITEM = re.compile(r"^(?P<step>[A-Za-z_][A-Za-z0-9_-]*)\[(?P<index>\d+)\]$")
#: the counts of a map's items a plan may change (``skipped`` also counts the cancelled ones)
COUNTS = ("pending", "running", "succeeded", "failed", "skipped")


def item_name(step: str, index: int) -> str:
    """The name an item's attempts run under."""
    return f"{step}[{index}]"


def parse_item(name: str) -> tuple[str, int] | None:
    """(map step, index) of an item's name; None for a step's own name."""
    found = _ITEM.match(name)
    return (found["step"], int(found["index"])) if found else None


@dataclass(frozen=True)
class Item:
    """One item of a map step, every column the state machine owns."""

    index: int
    status: str = "pending"
    #: the item's own values of the mapped inputs (loaded only for an item about to be launched)
    inputs: Mapping[str, Any] | None = None
    attempts: int = 0
    budget_start: int = 0
    infra_failures: int = 0
    ready_at: float | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    output: Any = None
    error: dict[str, Any] | None = None
    logs: str | None = None  # None: keep what is recorded
    started_at: float | None = None
    finished_at: float | None = None


@dataclass(frozen=True)
class MapState:
    """A started map step's counts, and those of its items a transition loaded.

    Attributes:
        items: the items the facts name.
        next: pending items in index order (at most ``next_asked``), to launch.
        joined: every item's (status, output, error) in index order, once the map ends.
    """

    step: str
    total: int
    max_parallel: int
    on_error: str
    constants: Mapping[str, Any]
    counts: Mapping[str, int]
    items: Mapping[int, Item] = field(default_factory=dict)
    next: tuple[Item, ...] = ()
    next_asked: int = 0
    joined: tuple[tuple[str, Any, Any], ...] | None = None


@dataclass(frozen=True)
class MapChange:
    """What a plan writes of one map step.

    Attributes:
        created: the map's row and every item, when it starts (items in index order).
        deltas: how much each count changes (applied before ``bulk``).
        items: items written whole, as they are after the plan.
        bulk: items changed by state, in order, after the rest: ``skip`` (pending ones skipped),
            ``cancel`` (running ones cancelled, pending ones skipped), ``again`` (the ones that did not
            succeed pending again, with a fresh retry budget, and the counts so), ``drop`` (the map
            forgotten: it starts afresh).
    """

    step: str
    created: MapState | None = None
    new_items: tuple[Item, ...] = ()
    deltas: dict[str, int] = field(default_factory=dict)
    items: dict[int, Item] = field(default_factory=dict)
    bulk: tuple[str, ...] = ()


@dataclass(frozen=True)
class MapNeed:
    """What the planner needs loaded of map steps (an extension of :class:`~.transitions.Need`).

    Attributes:
        rows: map steps whose counts to load (absent: not started).
        items: (map step, index) of items the facts name.
        next: (map step, how many) pending items to load in index order.
        joined: map steps whose items' results to load, to join them.
    """

    rows: frozenset[str] = frozenset()
    items: frozenset[tuple[str, int]] = frozenset()
    next: frozenset[tuple[str, int]] = frozenset()
    joined: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.rows or self.items or self.next or self.joined)


def met(maps: Mapping[str, MapState | None], need: MapNeed) -> bool:
    """Whether ``maps`` (as loaded) holds all ``need`` asks for."""
    for step in need.rows:
        if step not in maps:
            return False
    for step, index in need.items:
        if step not in maps:
            return False
        found = maps[step]
        if found is not None and index not in found.items:
            return False
    for step, count in need.next:
        found = maps.get(step)
        if found is not None and found.next_asked < count:
            return False
    return all((found := maps.get(step)) is None or found.joined is not None for step in need.joined)
