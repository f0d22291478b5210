"""Steps waiting for an event, in memory: the twin of ``adapters/sqlalchemy/event_wait_keys.py`` and
``event_waits.py`` (the same keys from ``domain/event_waits.py``, the same state machine)."""

from __future__ import annotations

from collections.abc import Sequence

from ...domain.event_waits import ArrivedEvent, EventWait, lookup_keys
from ...domain.transitions import EventArrived, Fact


class MemoryEventWaitIndex:
    """Waiting steps by key, and the shapes of the waits by type. An entry whose step no longer waits is
    dropped when an event finds it (the state machine refuses it anyway)."""

    def __init__(self) -> None:
        self._by_key: dict[str, set[tuple[str, str]]] = {}
        self._shapes: dict[str, set[tuple[str, str]]] = {}

    def add(self, waits: Sequence[EventWait]) -> None:
        """Index steps that started waiting."""
        for wait in waits:
            self._by_key.setdefault(wait.key, set()).add((wait.run_id, wait.step))
            self._shapes.setdefault(wait.type, set()).add((wait.project, wait.shape))

    def facts_for(self, event: ArrivedEvent) -> dict[str, list[Fact]]:
        """An :class:`EventArrived` per step indexed under a key of ``event``, by run; they leave the index."""
        shapes = [s for s in self._shapes.get(event.type, ()) if event.project in (None, s[0])]
        if not shapes:
            return {}
        facts: dict[str, list[Fact]] = {}
        for key in lookup_keys(event, sorted(shapes)):
            for run_id, step in sorted(self._by_key.pop(key, ())):
                facts.setdefault(run_id, []).append(EventArrived(step, event))
        return facts
