"""Waiting until trigger events are handled, for a bus that dies with the process.

On Kafka an accepted event is durable: a control plane killed before its run exists loses nothing, the
event is consumed again. The in-process bus (``KNFLOW_EVENT_BUS=memory``, the embedded stack) holds events
in memory only: answering ``202`` as soon as an event is on it let a crash in the next milliseconds drop
an accepted event without a run or a record (the chaos run on SQLite: an event accepted 59 ms before a
``SIGKILL``). So there, the intake waits until the trigger consumer has handled its events (their runs
stored, or their refusal recorded) before it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from cloudevents.core.v1.event import CloudEvent

from ..errors import EventBusUnavailable

#: How long a request waits while none of its events gets handled (a big batch takes as long as it takes
#: while it moves): a store outage can hold them longer; then the request is refused (503), and sending
#: it again is safe (runs are idempotent on the events' ids).
WAIT_SECONDS = 30.0


class HandledEvents:
    """Futures resolved when the trigger consumer has handled an event, by (source, id)."""

    def __init__(self, wait_seconds: float = WAIT_SECONDS) -> None:
        self.wait_seconds = wait_seconds
        self._waiting: dict[tuple[str, str], list[asyncio.Future[None]]] = {}

    @contextlib.asynccontextmanager
    async def expect(self, events: Sequence[CloudEvent]) -> AsyncIterator[None]:
        """Publish ``events`` inside the block; leaving it waits until each was handled once.

        Raises:
            EventBusUnavailable: they were not all handled within ``wait_seconds``.
        """
        loop = asyncio.get_running_loop()
        mine = [(_key(event), loop.create_future()) for event in events]  # before publishing: no race
        for key, future in mine:
            self._waiting.setdefault(key, []).append(future)
        try:
            yield
            pending = {future for _key_, future in mine}
            while pending:
                finished, pending = await asyncio.wait(pending, timeout=self.wait_seconds)
                if finished:
                    continue
                raise EventBusUnavailable(
                    "the events are on the in-process bus but their runs are not stored yet: sending them "
                    "again is safe",
                    field="bus",
                )
        finally:
            for key, future in mine:
                waiting = self._waiting.get(key, [])
                if future in waiting:
                    waiting.remove(future)
                if not waiting:
                    self._waiting.pop(key, None)

    def done(self, event: CloudEvent) -> None:
        """``event`` was handled: its run is stored (or found), or its refusal recorded."""
        for future in self._waiting.pop(_key(event), []):
            if not future.done():
                future.set_result(None)


def _key(event: CloudEvent) -> tuple[str, str]:
    return event.get_source(), event.get_id()
