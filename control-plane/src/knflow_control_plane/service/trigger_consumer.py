"""Trigger events out of the bus: each matching event starts runs, then its offset may be committed.

One consumer per topic that a deployed event trigger listens on (``knflow.triggers`` always), each topic
in its own consumer group shared by every replica, so the replicas split its partitions. Every event is
handled at least once and its run created at most once: the run's creation is idempotent on the event's
(source, id) in the store, and the delivery is acknowledged only after that commit. A crash in between
redelivers the event, which then finds its run. A store outage is waited out (the event is retried, not
dropped); an event that can never start a run (its workflow was undeployed, its data does not fit the
inputs) is recorded as a rejected event (``GET /v1/rejected-events``), logged, counted and acknowledged,
so it does not block its partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from cloudevents.core.v1.event import CloudEvent

from knflow.spec import EventTrigger
from knflow_eventing import (
    TRIGGERS_TOPIC,
    Delivery,
    EventBus,
    EventingError,
    Subscription,
    inputs_from_event,
    matching_triggers,
)

from ..domain.records import DeployedTrigger
from ..domain.rejections import RejectedEvent
from ..errors import Conflict, ControlPlaneError, InvalidRequest, NotFound
from ..observability import logs
from ..ports import RejectedEvents, TriggerStore
from .event_waits import EventWaits
from .handled_events import HandledEvents
from .health import Outage
from .known_triggers import KnownTriggers
from .rejections import rejected_event
from .trigger_events import (
    ConsumeTracing,
    epoch,
    for_project,
    no_span,
    project_of_event,
    trace_of,
)
from .trigger_intake import HTTP_TRIGGER_TYPE
from .workflows import Workflows


class ConsumerStore(TriggerStore, RejectedEvents, Protocol):
    """What the trigger consumer needs: event triggers, and where an event that starts no run is told."""


log = logging.getLogger("knflow.triggers")

GROUP = "knflow-control-plane"
#: errors that mean "this event will never start a run", as opposed to "not now"
_REJECTED = (InvalidRequest, NotFound, Conflict)


class TriggerConsumer:
    """Consumes trigger topics and starts the runs their events call for.

    Args:
        bus: the event bus.
        store: to read the deployed event triggers.
        workflows: to start runs.
        project: the project whose triggers are matched.
        group: the consumer group of every replica.
        concurrency: events handled at once per replica.
        refresh: seconds between looks for changes of the deployed triggers (``KnownTriggers.refresh``:
            their generation; the triggers are read again when it grew, and new topics subscribed).
        tracing: makes consume spans (None when tracing is off).
        waits: resumes the steps waiting for an event (``wait_for_event``), before its runs start.
    """

    def __init__(
        self,
        bus: EventBus,
        store: ConsumerStore,
        workflows: Workflows,
        project: str = "default",
        *,
        group: str = GROUP,
        concurrency: int = 64,
        refresh: float = 1.0,
        tracing: ConsumeTracing | None = None,
        waits: EventWaits | None = None,
    ):
        self.bus = bus
        self.store = store
        self.workflows = workflows
        self.project = project
        self.group = group
        self.refresh = refresh
        self.tracing = tracing
        self.waits = waits
        self._slots = asyncio.Semaphore(concurrency)
        self.known = KnownTriggers(store)
        self._consumers: dict[str, asyncio.Task[None]] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        #: requests waiting for their events to be handled (used with the in-process bus only)
        self.handled_events = HandledEvents()
        #: events handled (runs started or found), events that could not start a run, and runs an event
        #: had started already (redeliveries)
        self.handled = 0
        self.rejected = 0
        self.duplicates = 0

    async def start(self) -> None:
        """Consume in the background until :meth:`stop` (again after a stop)."""
        self._stopping = False
        self._supervisor = asyncio.create_task(self._supervise(), name="knflow-trigger-consumer")

    async def stop(self) -> None:
        """Leave the group; events being handled finish first (briefly), the others are redelivered."""
        self._stopping = True
        tasks = [t for t in (self._supervisor, *self._consumers.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=5.0)
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        self._consumers.clear()

    def group_of(self, topic: str) -> str:
        """The consumer group of ``topic``: one per topic, so that a topic added by a deploy does not
        rebalance (and redeliver) the others."""
        return self.group if topic == TRIGGERS_TOPIC else f"{self.group}.{topic}"

    def lag(self) -> dict[tuple[str, int], int]:
        """Consumer lag of this replica by (topic, partition): events not yet handed to it."""
        return {
            (topic, partition): behind
            for topic, subscription in list(self._subscriptions.items())
            for partition, behind in subscription.lag().items()
        }

    async def reload(self) -> None:
        """Read the deployed event triggers again (after a deploy on this replica): :meth:`KnownTriggers.reload`."""
        await self.known.reload()

    def matches(self, event: CloudEvent) -> list[tuple[str, str, str]]:
        """The (project, workflow, version) of every loaded event trigger on ``knflow.triggers`` that ``event``
        matches (of its project only, when it names one: ``knflowproject``)."""
        return [
            (row.project, row.workflow, row.version) for row in _matching(event, TRIGGERS_TOPIC, self.known.triggers)
        ]

    # -- handling one event ------------------------------------------------------------------------
    async def handle(self, event: CloudEvent, topic: str = TRIGGERS_TOPIC) -> list[str]:
        """Start the runs ``event`` calls for (idempotently); their ids.

        A matching workflow whose run can never start (the data does not fit its inputs, it was
        undeployed) does not keep the others from starting: it is recorded as a rejected event.

        Raises:
            ControlPlaneError: the store failed: handle the event again later.
        """
        received = time.monotonic()
        trace_id, _parent = trace_of(event)
        span = self.tracing.consume(event, topic) if self.tracing is not None else no_span()
        with span:
            if event.get_type() == HTTP_TRIGGER_TYPE and topic == TRIGGERS_TOPIC:
                started, rejected = await self._start_http(event, trace_id)
            else:
                if self.waits is not None and topic == TRIGGERS_TOPIC:
                    await self.waits.resume(event)
                started, rejected = await self._start_every_match(event, topic, trace_id, received)
        if rejected:
            await self.store.record_rejected(rejected)
            self.rejected += len(rejected)
            for rejection in rejected:
                log.warning(
                    "event %s from %s on %s starts no run of %s: %s",
                    rejection.event_id,
                    rejection.source,
                    topic,
                    rejection.workflow or "any workflow",
                    rejection.reason,
                )
        return started

    async def _start_every_match(
        self, event: CloudEvent, topic: str, trace_id: str | None, received: float
    ) -> tuple[list[str], list[RejectedEvent]]:
        """Start the runs of every trigger ``event`` matches, those deployed before it arrived included.

        The triggers held may be older than the event: a deploy on another replica reaches this one's
        periodic reload up to ``refresh`` later, and a file's workflows deploy one at a time. So the
        generation is read after the event arrived: when it is newer than the triggers held, they are
        read again and the workflows they add start too. Otherwise an event matching one workflow of two
        on its type would start one run, silently (found by the replicas' e2e test in CI). The read
        comes after the first runs' start, whose latency it would add to (``docs/eventing.md``).
        """
        known = self.known
        held, read_at = known.generation, known.as_of
        first = _matching(event, topic, known.triggers)
        started, rejected = await self._start_rows(event, topic, trace_id, first)
        if read_at < received and await known.caught_up(received, held):
            tried = {(row.project, row.workflow) for row in first}
            added = [row for row in _matching(event, topic, known.triggers) if (row.project, row.workflow) not in tried]
            more, refused = await self._start_rows(event, topic, trace_id, added)
            started, rejected = started + more, rejected + refused
        return started, rejected

    async def _start_rows(
        self, event: CloudEvent, topic: str, trace_id: str | None, rows: list[DeployedTrigger]
    ) -> tuple[list[str], list[RejectedEvent]]:
        """The run ``event`` starts for each of ``rows`` (its id), or why it can start none."""
        started: list[str] = []
        rejected: list[RejectedEvent] = []
        for row in rows:
            try:
                with logs.scoped():  # the run's ids tag the lines of its start only
                    started.append(await self._start_matched(event, row, trace_id))
            except _REJECTED as exc:
                rejected.append(self._rejection(event, topic, exc, row.workflow, row.project))
        return started, rejected

    def _rejection(
        self, event: CloudEvent, topic: str, exc: Exception, workflow: str | None, project: str | None = None
    ) -> RejectedEvent:
        field = exc.fields.get("field") if isinstance(exc, ControlPlaneError) else None
        return rejected_event(
            event,
            project or project_of_event(event, self.project),
            topic,
            str(exc),
            workflow=workflow,
            field=field if isinstance(field, str) else None,
        )

    async def _start_http(self, event: CloudEvent, trace_id: str | None) -> tuple[list[str], list[RejectedEvent]]:
        data = event.get_data()
        workflow = data.get("workflow") if isinstance(data, dict) else None
        try:
            return [await self._start_http_run(event, trace_id)], []
        except _REJECTED as exc:
            return [], [self._rejection(event, TRIGGERS_TOPIC, exc, workflow if isinstance(workflow, str) else None)]

    async def _start_http_run(self, event: CloudEvent, trace_id: str | None) -> str:
        data = event.get_data()
        if not isinstance(data, dict) or not isinstance(data.get("workflow"), str):
            raise InvalidRequest("an HTTP trigger event needs JSON data with its workflow", field="data")
        record = {
            "kind": "http",
            "method": data.get("method"),
            "path": data.get("path"),
            "at": epoch(event),
            "event": {"id": event.get_id(), "source": event.get_source(), "type": event.get_type()},
        }
        if isinstance(data.get("priority"), int):
            record["priority"] = data["priority"]
        transition = await self.workflows.of(project_of_event(event, self.project)).start(
            data["workflow"],
            dict(data.get("inputs") or {}),
            trigger=record,
            version=data.get("version"),
            idempotency=(event.get_source(), event.get_id()),
            run_id=event.get_id(),
            trace_id=trace_id,
            triggered=True,
        )
        self.duplicates += transition.duplicate
        return transition.run_id

    async def _start_matched(self, event: CloudEvent, row: DeployedTrigger, trace_id: str | None) -> str:
        record = {
            "kind": "event",
            "at": epoch(event),
            "event": {
                "id": event.get_id(),
                "source": event.get_source(),
                "type": event.get_type(),
                "subject": event.get_subject(),
            },
            "trigger": row.position,
        }
        if row.trigger.get("priority") is not None:
            record["priority"] = row.trigger["priority"]
        transition = await self.workflows.of(row.project).start(
            row.workflow,
            inputs_from_event(event),
            trigger=record,
            version=row.version,
            idempotency=(event.get_source(), event.get_id()),
            trace_id=trace_id,
            triggered=True,
        )
        self.duplicates += transition.duplicate
        return transition.run_id

    # -- consuming ---------------------------------------------------------------------------------
    async def _supervise(self) -> None:
        outage = Outage("reading the event triggers (the last ones read are kept)", log, base=self.refresh)
        while True:
            try:
                await self.known.refresh()
                outage.succeeded()
            except ControlPlaneError as exc:
                await asyncio.sleep(outage.failed(exc))  # one line when the outage starts, one when it ends
            wanted = {TRIGGERS_TOPIC} | {trigger.topic for _row, trigger in self.known.triggers}
            for topic in wanted - self._consumers.keys():
                self._consumers[topic] = asyncio.create_task(self._consume(topic), name=f"knflow-consume {topic}")
            for topic in self._consumers.keys() - wanted:
                self._consumers.pop(topic).cancel()
            await asyncio.sleep(self.refresh)

    async def _consume(self, topic: str) -> None:
        await self.known.loaded.wait()
        failures = 0
        while True:
            try:
                async with self.bus.subscribe(topic, self.group_of(topic)) as subscription:
                    self._subscriptions[topic] = subscription
                    failures = 0
                    async for delivery in subscription:
                        await self._slots.acquire()
                        task = asyncio.create_task(self._handle_delivery(delivery))
                        self._handlers.add(task)
                        task.add_done_callback(self._handlers.discard)
                if self._stopping:
                    return
                # The consumer ended without being asked to (its driver stopped): join again.
                log.warning("the consumer of %s ended; joining again", topic)
                await asyncio.sleep(0.5)
            except EventingError as exc:
                failures += 1
                delay = min(5.0, 0.1 * 2**failures)
                log.warning("consuming %s failed (%s); joining again in %.1fs", topic, exc, delay)
                await asyncio.sleep(delay)
            finally:
                self._subscriptions.pop(topic, None)

    async def _handle_delivery(self, delivery: Delivery) -> None:
        failures = 0
        try:
            while True:
                try:
                    rejected = self.rejected
                    await self.handle(delivery.event, delivery.topic)
                    self.handled += self.rejected == rejected  # an event with a refusal counts as rejected
                    break
                except ControlPlaneError as exc:
                    # The store is down or busy: the event waits (unacknowledged) and is tried again.
                    failures += 1
                    delay = min(5.0, 0.05 * 2**failures)
                    log.warning("event %s: %s; trying again in %.1fs", delivery.event.get_id(), exc, delay)
                    await asyncio.sleep(delay)
                except Exception as exc:
                    # A bug, not an outage: an unacknowledged event would hold its partition's offset
                    # back forever, so it is logged with its traceback, recorded and let go.
                    log.exception("event %s could not be handled", delivery.event.get_id())
                    await self._record_failure(delivery, exc)
                    break
            self.handled_events.done(delivery.event)
            with contextlib.suppress(EventingError):
                await delivery.ack()  # a lost ack only means a redelivery, which finds the run
        finally:
            self._slots.release()

    async def _record_failure(self, delivery: Delivery, exc: Exception) -> None:
        reason = f"the control plane failed to handle it ({type(exc).__name__}); see its logs"
        self.rejected += 1
        with contextlib.suppress(Exception):  # best effort: the traceback is in the log already
            project = project_of_event(delivery.event, self.project)
            await self.store.record_rejected([rejected_event(delivery.event, project, delivery.topic, reason)])


def _matching(
    event: CloudEvent, topic: str, triggers: list[tuple[DeployedTrigger, EventTrigger]]
) -> list[DeployedTrigger]:
    """The deployed triggers on ``topic`` that ``event`` matches (of its project only, when it names one)."""
    return [
        row
        for row, trigger in triggers
        if trigger.topic == topic and for_project(event, row) and matching_triggers(event, [trigger])
    ]
