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
        self.generation, self.as_of = generation, began
        self.loaded.set()

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
