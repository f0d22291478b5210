"""The map steps' bookkeeping in a plan being made: the counts and items loaded (asking the store for
more with ``NeedMore``), the changes to write (counts as deltas, items moved, bulk moves) and the
``MapChange``s a plan carries. ``maps.py`` holds the rules that drive it. No I/O.

It is made on first use: a plan of a run without map steps (the hot path) pays nothing for it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from .map_state import Item, MapChange, MapNeed, MapState, parse_item
from .model import RunStatus
from .plan_draft import PlanDraft
from .transitions import AttemptFinished, Fact, LeaseExpired, Need, Plan, Step


class NeedMore(Exception):
    """Raised inside the planner when a map step needs more of the run loaded (its counts, items...)."""

    def __init__(self, need: Need):
        self.need = need


def element(outputs: dict[str, Any] | None) -> Any:
    """An item's result in the joined list: what its action returned (``{"result": x}`` is ``x``)."""
    outputs = outputs or {}
    return outputs["result"] if len(outputs) == 1 and "result" in outputs else outputs


_BOOKKEEPING = frozenset(
    {"map_rows", "map_counts", "map_items", "map_changes", "map_fresh", "map_taken", "map_launched"}
)


class MapBookkeeping(PlanDraft):
    """What a plan being made knows and changes of its map steps (``MapDraft`` derives from it)."""

    # The bookkeeping of map steps, made on first use: a plan of a run without map steps (the hot path)
    # pays nothing for it.
    map_rows: dict[str, MapState | None]
    map_counts: dict[str, dict[str, int]]
    map_items: dict[str, dict[int, Item]]
    map_changes: dict[str, dict[str, Any]]
    map_fresh: dict[str, deque[Item]]
    map_taken: dict[str, int]
    map_launched: dict[str, list[str]]
    #: planning a run's creation: its map steps start at the next poll (their items are written by a
    #: transition, not by the run's insert)
    creating = False
    #: the facts being planned (the items they name are loaded together)
    facts: Sequence[Fact] = ()

    def __getattr__(self, name: str) -> Any:
        if name not in _BOOKKEEPING:
            raise AttributeError(name)
        fields = self.__dict__
        fields.update({key: {} for key in _BOOKKEEPING})
        fields["map_rows"] = dict(self.state.maps)
        return fields[name]

    # -- what the planner provides ----------------------------------------------------------------
    def succeeded(self, step: Step, outputs: dict[str, Any], *, claim_next: bool) -> None:
        raise NotImplementedError

    def end_run(
        self, status: RunStatus, *, result: Any = None, error: dict[str, Any] | None = None, abandon: bool = False
    ) -> None:
        raise NotImplementedError

    # -- loading ----------------------------------------------------------------------------------
    def _named(self, name: str) -> frozenset[tuple[str, int]]:
        """(map step, index) of every item of ``name`` the facts being planned name."""
        found = set()
        for fact in self.facts:
            if isinstance(fact, AttemptFinished | LeaseExpired) and "[" in fact.step:
                parsed = parse_item(fact.step)
                if parsed is not None and parsed[0] == name:
                    found.add(parsed)
        return frozenset(found)

    def map_of(self, name: str, *, item: int | None = None) -> MapState | None:
        """The map step's counts as loaded (None: it has not started), asking for them, for the items the
        facts name and for as many next pending items (each item ending makes room for one)."""
        if name not in self.map_rows:
            items = self._named(name) | ({(name, item)} if item is not None else set())
            more = frozenset({(name, len(items))}) if items else frozenset()
            raise NeedMore(Need(maps=MapNeed(rows=frozenset({name}), items=items, next=more)))
        found = self.map_rows[name]
        if found is not None and name not in self.map_counts:
            self.map_counts[name] = dict(found.counts)
            self.map_items[name] = dict(found.items)
        return found

    def item_of(self, name: str, index: int) -> Item | None:
        """Item ``index`` of a started map as the plan leaves it so far (None: no such item)."""
        items = self.map_items[name]
        if index not in items:  # the store loads every item asked for (``absent`` when there is none)
            raise NeedMore(Need(maps=MapNeed(items=self._named(name) | {(name, index)})))
        found = items[index]
        return None if found.status == "absent" else found

    # -- writing ----------------------------------------------------------------------------------
    def _change(self, name: str) -> dict[str, Any]:
        return self.map_changes.setdefault(name, {"deltas": {}, "items": {}, "bulk": ()})

    def _count(self, name: str, **deltas: int) -> None:
        counts, change = self.map_counts[name], self._change(name)["deltas"]
        for key, delta in deltas.items():
            counts[key] += delta
            change[key] = change.get(key, 0) + delta

    def _write(self, name: str, item: Item) -> None:
        self.map_items[name][item.index] = item
        self._change(name)["items"][item.index] = item

    def _settling(self, name: str) -> bool:
        """Whether this plan changed the map's items in bulk: what was loaded of it is stale until written,
        so it launches nothing more before the next transition."""
        change = self.map_changes.get(name)
        return change is not None and bool(change["bulk"])

    def _bulk(self, name: str, op: str) -> None:
        change = self._change(name)
        change["bulk"] = (*change["bulk"], op)
        counts = self.map_counts.get(name)
        if counts is None:
            return
        if op == "cancel":
            counts["skipped"] += counts["pending"] + counts["running"]
            counts["pending"] = counts["running"] = 0
        elif op == "skip":
            counts["skipped"] += counts["pending"]
            counts["pending"] = 0

    def plan(self) -> Plan:
        done = super().plan()
        if not self.__dict__.get("map_changes"):
            return done
        done.maps.update(
            {
                name: MapChange(
                    name,
                    change.get("created"),
                    change.get("new_items", ()),
                    change["deltas"],
                    change["items"],
                    change["bulk"],
                )
                for name, change in self.map_changes.items()
            }
        )
        return done
