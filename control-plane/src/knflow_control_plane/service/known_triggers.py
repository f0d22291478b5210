"""The deployed event triggers one replica matches events against, as of its newest read, and how fresh
that read is (``service/trigger_consumer.py`` consumes with them).

Other replicas deploy too, and a file's workflows deploy one request at a time, so the triggers held may
miss a workflow deployed before an event arrived. Two clocks say when they may: ``as_of`` (when the read
that installed them began, on this replica's monotonic clock) and ``generation`` (the store's count of
changes to the triggers, read before the triggers themselves). An event compares them with its arrival:
a read begun after it needs nothing more; otherwise one read of the generation, shared by the events
that arrived before it began, tells whether a change has committed since.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from knflow.spec import EventTrigger

from ..domain.records import DeployedTrigger
from .trigger_events import event_trigger

#: Seconds between whole reads of the triggers when their generation says nothing changed (``refresh``).
FULL_EVERY = 60.0


class TriggerReads(Protocol):
    """What is read of the store: every project's event triggers, and their generation."""

    async def list_event_triggers(self, project: str | None) -> list[DeployedTrigger]: ...
    async def triggers_generation(self) -> int: ...


class KnownTriggers:
    """The deployed event triggers as this replica last read them."""

    def __init__(self, store: TriggerReads):
        self.store = store
        self.triggers: list[tuple[DeployedTrigger, EventTrigger]] = []
        #: the store's generation when they were read (-1: never read)
        self.generation = -1
        #: when the read that installed them began (monotonic): they are known as of then
        self.as_of = float("-inf")
        self.loaded = asyncio.Event()
        self._reloading: asyncio.Task[None] | None = None
        #: when the newest whole read installed began (monotonic)
        self._full_at = float("-inf")
        #: the newest read of the generation, and when it began
        self._generation_read: tuple[float, asyncio.Future[int] | None] = (float("-inf"), None)

    async def reload(self) -> None:
        """Read the deployed event triggers again.

        Reads overlap (the periodic one, a deploy's, an event's) and may answer out of order: a read begun
        before another that already answered is older, and is dropped. Installed, it would hide a
        workflow deployed in between while passing for the triggers known as of the newer read (the chaos
        run once had 8 events accepted and left without a run or a rejection record that way).
        """
        began = time.monotonic()
        # The generation first: a change committed between the two reads makes it look older than the
        # triggers, which costs one more reload later, never a missed one.
        generation = await self.store.triggers_generation()
        rows = await self.store.list_event_triggers(None)  # of every project
        if began < self.as_of:
            return
        self.triggers = [(row, event_trigger(row.trigger)) for row in rows]
        self.generation, self.as_of, self._full_at = generation, began, began
        self.loaded.set()

    async def refresh(self, *, full_every: float = FULL_EVERY) -> None:
        """The periodic look for changes made on other replicas: the triggers are read again when their
        generation grew (or ``full_every`` seconds after the last whole read); otherwise the one small
        read of the generation shows that those held are still current, as of when it began.

        A whole read a second on every replica was most of what an idle consumer did: a query of every
        project's triggers through SQLAlchemy, on the event loop a step's work shares. The whole read that
        comes anyway every ``full_every`` seconds covers a change whose writer did not count it: a replica
        of a version before the generation, during a rolling upgrade.
        """
        began = time.monotonic()
        if not self.loaded.is_set() or began - self._full_at >= full_every:
            await self.reload()
            return
        generation = await self._generation_after(began)  # shared with the events that wait for one
        if generation > self.generation:
            await self._known_since(began)  # shared with an event's reread, if one is under way
        elif generation == self.generation:  # nothing committed since those held were read: current now
            self.as_of = max(self.as_of, began)

    async def caught_up(self, arrived: float, held: int) -> bool:
        """Make the triggers include every change committed before ``arrived``, for a caller that matched
        an event with those of generation ``held``: True when newer ones were read (to match again)."""
        if await self._generation_after(arrived) <= held:
            return False
        await self._known_since(arrived)  # a read begun after the event: what was deployed before is in it
        return True

    async def _known_since(self, moment: float) -> None:
        """Make the triggers known as of ``moment`` at least, sharing one reload among callers."""
        while self.as_of < moment:
            if self._reloading is None or self._reloading.done():
                self._reloading = asyncio.create_task(self.reload(), name="knflow-trigger-reload")
            await asyncio.shield(self._reloading)  # one begun before ``moment`` loops once more

    async def _generation_after(self, moment: float) -> int:
        """The generation as read by a read begun at ``moment`` or later: one read serves every caller
        whose ``moment`` came before it began."""
        began, read = self._generation_read
        if read is None or began < moment:
            began, read = time.monotonic(), asyncio.ensure_future(self.store.triggers_generation())
            read.add_done_callback(_retrieved)
            self._generation_read = (began, read)
        return await asyncio.shield(read)


def _retrieved(read: asyncio.Future[int]) -> None:
    """Take a failed read's error, so that asyncio does not log it when no caller awaits it any more (the
    events that did are handled again)."""
    if not read.cancelled():
        read.exception()
