"""Trigger events in: HTTP triggers and ``POST /v1/events`` publish CloudEvents onto ``knflow.triggers``.

Runs start from the bus (:mod:`.trigger_consumer`), never from the request: a request only has to
land its event on the bus, and whichever replica consumes it creates the run, once per (source, id).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from cloudevents.core.v1.event import CloudEvent

from knflow_eventing import TRIGGERS_TOPIC, EventBus, EventingError, inputs_from_event, make_event

from ..domain.catalogue import Route
from ..domain.ids import new_run_id
from ..errors import ControlPlaneError, EventBusUnavailable, EventDoesNotFit, InvalidRequest
from .handled_events import HandledEvents
from .workflows import Workflows

HTTP_TRIGGER_TYPE = "dev.knflow.trigger.http"
#: The CloudEvents extension naming the project an event is for: set from the caller's key by
#: ``POST /v1/events`` and from the route by an HTTP trigger; an event without it (straight from a topic)
#: may start the runs of any project's triggers.
PROJECT_EXTENSION = "knflowproject"
"""The type of the event an HTTP trigger publishes (its id is the run id it will create)."""


class TraceContext(Protocol):
    """Where the current trace context comes from (observability), to carry it in the event."""

    def current_traceparent(self) -> str | None:
        """The W3C ``traceparent`` of the current span, if there is one."""
        ...

    def produce(self, topic: str, event_id: str, run_id: str | None = None) -> AbstractContextManager[None]:
        """The span of publishing one event (current inside the context)."""
        ...


#: The (workflow, version) of each deployed event trigger on ``knflow.triggers`` that an event matches.
Matcher = Callable[[CloudEvent], list[tuple[str, str, str]]]


def event_key(event: CloudEvent) -> str:
    """The partition key of a trigger event: its subject, else its id (events of a subject keep their order)."""
    return event.get_subject() or event.get_id()


class TriggerIntake:
    """Publishes trigger events: the front half of every trigger.

    Args:
        bus: the event bus.
        workflows: to check an HTTP trigger's inputs before its event is published.
        trace: gives the current ``traceparent`` to put on the event (None when tracing is off).
        matcher: the deployed event triggers an ingested event matches (the trigger consumer's), to refuse
            at once an event whose data fits none of their workflows; None: no check at ingest.
        handled: with a bus that dies with the process (in-process), where to wait until the published
            events are handled before answering (see :mod:`.handled_events`); None: a durable bus.
    """

    def __init__(
        self,
        bus: EventBus,
        workflows: Workflows,
        trace: TraceContext | None = None,
        matcher: Matcher | None = None,
        handled: HandledEvents | None = None,
    ):
        self.bus = bus
        self.workflows = workflows
        self.trace = trace
        self.matcher = matcher
        self.handled = handled

    async def fire_http(
        self,
        route: Route,
        inputs: dict[str, Any],
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
    ) -> str:
        """Publish the trigger event of one HTTP request; the id of the run it will start.

        The inputs are checked first, so a bad request gets its 422 at once instead of a run that
        never starts. ``query``: the query string's inputs, read as their declared types (the body wins).

        Raises:
            InvalidRequest: an input is unknown, missing or of the wrong type.
            Conflict: the workflow is no longer deployed.
            EventBusUnavailable: the bus did not take the event.
        """
        workflows = self.workflows.of(route.project)
        version, checked = await workflows.check(route.workflow, inputs, route.version, query or {})
        run_id = new_run_id(time.time())
        checked = await workflows.offload_inputs(run_id, checked)  # events stay small (Kafka: 1 MB)
        data = {"workflow": route.workflow, "version": version, "inputs": checked, "method": method, "path": path}
        if (priority := route.trigger.get("priority")) is not None:
            data["priority"] = priority  # its run's place in a concurrency queue
        project = {PROJECT_EXTENSION: route.project}
        if self.trace is None:
            event = make_event(HTTP_TRIGGER_TYPE, f"/hooks{path}", data, id=run_id, extensions=project)
            await self._publish([(event, run_id)])
            return run_id
        with self.trace.produce(TRIGGERS_TOPIC, run_id, run_id):
            traceparent = self.trace.current_traceparent()
            extensions = {"traceparent": traceparent, **project} if traceparent else project
            event = make_event(HTTP_TRIGGER_TYPE, f"/hooks{path}", data, id=run_id, extensions=extensions)
            await self._publish([(event, run_id)])
        return run_id

    async def ingest(self, events: Sequence[CloudEvent], project: str | None = None) -> None:
        """Publish events received by ``POST /v1/events`` (keyed by subject, else id), for the triggers of
        ``project`` only (the caller's: each event gets it as ``knflowproject``, whatever it said), or of
        every project (None).

        An event that matches deployed event triggers but whose data fits the inputs of none of their
        workflows is refused with the whole batch, before anything is published: it could start no run.

        Raises:
            EventDoesNotFit: naming the event's index in the batch and the input at fault.
            EventBusUnavailable: the bus did not take them all (sending them again is safe).
        """
        if project is not None:
            events = [CloudEvent({**e.get_attributes(), PROJECT_EXTENSION: project}, e.get_data()) for e in events]
        for index, event in enumerate(events):
            await self._check_fits(event, index if len(events) > 1 else None)
        await self._publish([(event, event_key(event)) for event in events])

    async def _check_fits(self, event: CloudEvent, index: int | None) -> None:
        matched = self.matcher(event) if self.matcher is not None else []
        if not matched:
            return
        inputs = inputs_from_event(event)
        misfits: list[InvalidRequest] = []
        for project, workflow, version in matched:
            try:
                await self.workflows.of(project).check(workflow, inputs, version)
                return
            except InvalidRequest as exc:
                misfits.append(exc)
            except ControlPlaneError:
                return  # undeployed since, or the store is busy: the consumer decides, and records a refusal
        first = misfits[0]
        where = {"index": index} if index is not None else {}
        names = ", ".join(sorted({w for _p, w, _v in matched}))
        raise EventDoesNotFit(
            f"event {event.get_id()!r} matches {names} but its data fits no workflow's inputs: {first}",
            field=first.fields.get("field", "data"),
            **where,
        )

    async def _publish(self, events: list[tuple[CloudEvent, str | None]]) -> None:
        if self.handled is None:
            await self._send(events)
            return
        async with self.handled.expect([event for event, _key in events]):
            await self._send(events)

    async def _send(self, events: list[tuple[CloudEvent, str | None]]) -> None:
        try:
            await self.bus.publish_many(TRIGGERS_TOPIC, events)
        except EventingError as exc:
            raise EventBusUnavailable(f"the event bus did not take the event: {exc}", field="bus") from exc
