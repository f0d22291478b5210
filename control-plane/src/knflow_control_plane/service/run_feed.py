"""The live feed of run and step changes (``GET /v1/stream``): this replica's transitions, fanned out to
the browsers and clients that listen.

A transition costs the feed one dict lookup while nobody listens, and one small dict per event per
listener while someone does: nothing is read from the store for it. Each listener has a bounded queue;
a listener that falls behind (a tab in the background, a slow link) loses its queued changes and gets
one ``resync`` instead, after which it reads the pages it shows again. The feed carries what this replica
applied: with several replicas a client also re-reads what it shows now and then (docs/ui.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..domain import events as ev
from ..domain.model import RunStatus
from ..domain.records import Transition

_ENDED_BY = {ev.RUN_SUCCEEDED: "succeeded", ev.RUN_FAILED: "failed", ev.RUN_CANCELLED: "cancelled"}

#: Changes held for one listener before it is told to resync instead.
QUEUE_SIZE = 1000


@dataclass(frozen=True)
class Change:
    """One change a listener hears about.

    Attributes:
        kind: ``run`` or ``step`` (a lifecycle event), or ``resync`` (changes were dropped: read again).
        run_id: the run it concerns ("" for ``resync``).
        type: the lifecycle event type (``dev.knflow.step.succeeded``...).
        step: the step, for step changes.
        run_status: the run's status after the transition.
        data: the event's data (attempt number, workflow...), without results or errors.
    """

    kind: str
    run_id: str
    type: str = ""
    step: str | None = None
    run_status: str = ""
    data: dict[str, Any] = field(default_factory=dict)


RESYNC = Change("resync", "")
#: Event data copied into a change: small scalars only (results, errors and inputs are read by id).
_KEPT = frozenset(("attempt", "workflow", "version", "retry", "delay"))


@dataclass(eq=False)
class Listener:
    """One listener's queue; ``run_id`` narrows it to one run.

    Attributes:
        run_id: the run it follows, or None for every run.
        queue: changes not yet sent.
    """

    run_id: str | None
    queue: asyncio.Queue[Change] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))


class RunFeed:
    """Fans this replica's transitions out to listeners (an orchestrator listener)."""

    def __init__(self) -> None:
        self._listeners: set[Listener] = set()

    @property
    def listening(self) -> int:
        """How many listeners there are."""
        return len(self._listeners)

    def listen(self, run_id: str | None = None) -> Listener:
        """A new listener, for one run or every run; :meth:`leave` it when done."""
        listener = Listener(run_id)
        self._listeners.add(listener)
        return listener

    def leave(self, listener: Listener) -> None:
        """Stop feeding ``listener``."""
        self._listeners.discard(listener)

    def on_transition(self, transition: Transition) -> None:
        """Queue the transition's events for every listener that follows its run."""
        if not self._listeners or not transition.events:
            return
        status = transition.run_status.value
        changes = [
            Change(
                "step" if event.step else "run",
                event.run_id,
                event.type,
                event.step,
                status if event.run_id == transition.run_id else _carried_status(event.type),
                {k: v for k, v in event.data.items() if k in _KEPT},
            )
            for event in transition.events
        ]
        for listener in self._listeners:
            if listener.run_id is None:
                _offer(listener.queue, changes)
            elif listener.run_id == transition.run_id or any(c.run_id == listener.run_id for c in changes):
                # its own run's changes only: a transition also carries the start of queued runs it let in
                _offer(listener.queue, [c for c in changes if c.run_id == listener.run_id])

    def close(self) -> None:
        """Tell every listener to stop (the control plane is stopping)."""
        for listener in self._listeners:
            _offer(listener.queue, [Change("closed", "")])


def _carried_status(event_type: str) -> str:
    """The status of a run whose events another run's transition carries (a queued run that run's end
    started, ``domain/concurrency.py``): running, unless the event ends it."""
    return _ENDED_BY.get(event_type, RunStatus.RUNNING.value)


def _offer(queue: asyncio.Queue[Change], changes: list[Change]) -> None:
    """Queue ``changes``; a queue they do not fit in is emptied and told to resync."""
    if queue.maxsize - queue.qsize() >= len(changes):
        for change in changes:
            queue.put_nowait(change)
        return
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(RESYNC)
