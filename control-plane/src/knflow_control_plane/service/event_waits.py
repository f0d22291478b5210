"""Resuming the steps that wait for an arriving CloudEvent (``wait_for_event``): the trigger consumer hands
every event of ``knflow.triggers`` here before it starts the runs the event triggers.

The store finds the waiting steps by key in one transaction and the state machine ends each (its output
``event``; ``domain/event_waits.py`` says how an event matches). The steps they release are claimed by
the orchestrator's next poll, woken here.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

from cloudevents.core.v1.event import CloudEvent

from ..domain.event_waits import ArrivedEvent
from ..domain.records import Transition
from ..ports import EventWaitStore
from .trigger_intake import PROJECT_EXTENSION


class TransitionSink(Protocol):
    """Where transitions made outside the orchestrator's loop go (the orchestrator)."""

    def apply(self, transition: Transition) -> None:
        """Act on ``transition`` (its claims, waiters and listeners)."""
        ...

    def wake(self) -> None:
        """Look for claimable work now."""
        ...


def arrived(event: CloudEvent) -> ArrivedEvent:
    """The parts of ``event`` a waiting step matches on and keeps, with the project it was posted for
    (``knflowproject``; None: from a topic, it may resume any project's steps, as it may start any
    project's runs)."""
    named = event.get_extension(PROJECT_EXTENSION)
    at = event.get_time()
    when = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() if isinstance(at, datetime) else None
    subject = event.get_subject()
    return ArrivedEvent(
        id=event.get_id(),
        type=event.get_type(),
        source=event.get_source(),
        data=event.get_data(),
        subject=subject if isinstance(subject, str) else None,
        time=when,
        project=named if isinstance(named, str) and named else None,
    )


class EventWaits:
    """Resumes the steps an event ends.

    Args:
        store: finds and resumes them.
        orchestrator: acts on each transition, and claims the steps they release.
    """

    def __init__(self, store: EventWaitStore, orchestrator: TransitionSink):
        self.store, self.orchestrator = store, orchestrator
        #: steps resumed by an event, since the start
        self.resumed = 0

    async def resume(self, event: CloudEvent) -> int:
        """Resume every step waiting for ``event``; how many.

        Raises:
            ControlPlaneError: the store failed (the event is handled again, and resumes each step once).
        """
        transitions = await self.store.resume_waits(arrived(event), time.time())
        for transition in transitions:
            self.orchestrator.apply(transition)
        if transitions:
            self.orchestrator.wake()
            self.resumed += len(transitions)
        return len(transitions)
