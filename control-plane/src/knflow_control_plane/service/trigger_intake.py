"""Trigger events in: HTTP triggers and ``POST /v1/events`` publish CloudEvents onto ``knflow.triggers``.

Runs start from the bus (:mod:`.trigger_consumer`), never from the request: a request only has to
land its event on the bus, and whichever replica consumes it creates the run, once per (source, id).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from cloudevents.core.v1.event import CloudEvent

from knflow_eventing import TRIGGERS_TOPIC, EventBus, EventingError, make_event

from ..errors import EventBusUnavailable
from .workflows import Workflows, new_run_id

HTTP_TRIGGER_TYPE = "dev.knflow.trigger.http"
"""The type of the event an HTTP trigger publishes (its id is the run id it will create)."""


class TraceContext(Protocol):
    """Where the current trace context comes from (observability), to carry it in the event."""

    def current_traceparent(self) -> str | None:
        """The W3C ``traceparent`` of the current span, if there is one."""
        ...

    def produce(self, topic: str, event_id: str, run_id: str | None = None) -> AbstractContextManager[None]:
        """The span of publishing one event (current inside the context)."""
        ...


def event_key(event: CloudEvent) -> str:
    """The partition key of a trigger event: its subject, else its id (events of a subject keep their order)."""
    return event.get_subject() or event.get_id()


class TriggerIntake:
    """Publishes trigger events: the front half of every trigger.

    Args:
        bus: the event bus.
        workflows: to check an HTTP trigger's inputs before its event is published.
        trace: gives the current ``traceparent`` to put on the event (None when tracing is off).
    """

    def __init__(self, bus: EventBus, workflows: Workflows, trace: TraceContext | None = None):
        self.bus = bus
        self.workflows = workflows
        self.trace = trace

    async def fire_http(self, route: dict[str, Any], inputs: dict[str, Any], method: str, path: str) -> str:
        """Publish the trigger event of one HTTP request; the id of the run it will start.

        The inputs are checked first, so a bad request gets its 422 at once instead of a run that
        never starts.

        Raises:
            InvalidRequest: an input is unknown, missing or of the wrong type.
            Conflict: the workflow is no longer deployed.
            EventBusUnavailable: the bus did not take the event.
        """
        version, checked = await self.workflows.check(route["workflow"], inputs, route["version"])
        run_id = new_run_id(time.time())
        checked = await self.workflows.offload_inputs(run_id, checked)  # events stay small (Kafka: 1 MB)
        data = {"workflow": route["workflow"], "version": version, "inputs": checked, "method": method, "path": path}
        if self.trace is None:
            await self._publish([(make_event(HTTP_TRIGGER_TYPE, f"/hooks{path}", data, id=run_id), run_id)])
            return run_id
        with self.trace.produce(TRIGGERS_TOPIC, run_id, run_id):
            traceparent = self.trace.current_traceparent()
            extensions = {"traceparent": traceparent} if traceparent else {}
            event = make_event(HTTP_TRIGGER_TYPE, f"/hooks{path}", data, id=run_id, extensions=extensions)
            await self._publish([(event, run_id)])
        return run_id

    async def ingest(self, events: Sequence[CloudEvent]) -> None:
        """Publish events received by ``POST /v1/events`` (keyed by subject, else id).

        Raises:
            EventBusUnavailable: the bus did not take them all (sending them again is safe).
        """
        await self._publish([(event, event_key(event)) for event in events])

    async def _publish(self, events: list[tuple[CloudEvent, str | None]]) -> None:
        try:
            await self.bus.publish_many(TRIGGERS_TOPIC, events)
        except EventingError as exc:
            raise EventBusUnavailable(f"the event bus did not take the event: {exc}", field="bus") from exc
