"""Lifecycle events straight onto an in-process bus, once their transition has committed.

The outbox (``outbox_relay``) exists to make publishing to a durable bus atomic with the transition:
an event is published exactly when its state change committed, even across a crash. An in-process bus
(``MemoryBus``, the embedded stack) lives and dies with this process, so a row written to the outbox
buys nothing there but a write per transition and the relay's reads and marks. With it, each applied
transition's events are published after its commit (nothing is invented), in the order the transitions
were applied here, which for one run is the order they committed (a run's transitions are serialised).
A crash loses the unpublished ones together with the bus and its subscribers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from functools import partial

from knflow_eventing import RUNS_TOPIC, EventingError, MemoryBus

from ..domain.records import Transition
from .outbox_relay import lifecycle_cloudevent

log = logging.getLogger("knflow.lifecycle")


class LifecyclePublisher:
    """Publishes the events of applied transitions to ``knflow.runs`` (an orchestrator listener).

    Args:
        bus: the in-process bus.

    Event ids are this process's token and a sequence number: unique, and cheap. Each event's
    ``CloudEvent`` is only built if a subscriber reads it (``MemoryBus.publish_lazily``): most are never
    read, and the bus keeps only the last 1,000 a partition for a group that joins later.
    """

    def __init__(self, bus: MemoryBus):
        self.bus = bus
        #: events handed to the bus so far (``knflow_lifecycle_events_published_total``)
        self.published = 0
        self._token = secrets.token_hex(6)
        self._sequence = itertools.count(1)
        self._pending: list[Transition] = []
        self._flush: asyncio.Task[None] | None = None

    def on_transition(self, transition: Transition) -> None:
        """Queue the transition's events; they are published together at the next turn of the loop."""
        if not transition.events:
            return
        self._pending.append(transition)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().create_task(self._publish(), name="knflow-lifecycle")

    async def stop(self) -> None:
        """Publish what is queued."""
        if self._flush is not None:
            await asyncio.shield(self._flush)

    async def _publish(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                now = time.time()
                events = [
                    (
                        partial(
                            lifecycle_cloudevent,
                            {
                                "id": f"{self._token}-{next(self._sequence)}",
                                "type": event.type,
                                "run_id": event.run_id,
                                "step": event.step,
                                "data": event.data,
                                "created_at": now,
                            },
                        ),
                        event.run_id,
                    )
                    for transition in batch
                    for event in transition.events
                ]
                try:
                    await self.bus.publish_lazily(RUNS_TOPIC, events)
                except EventingError as exc:  # the bus is closing: its subscribers are gone too
                    log.warning("could not publish %d lifecycle events: %s", len(events), exc)
                    return
                self.published += len(events)
        finally:
            self._flush = None
