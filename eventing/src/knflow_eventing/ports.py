"""The ``EventBus`` port: topics of CloudEvents, keyed for ordering, consumed by groups at least once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, Self

from cloudevents.core.v1.event import CloudEvent

TRIGGERS_TOPIC = "knflow.triggers"
"""Trigger events in (``POST /v1/events`` and external producers)."""
RUNS_TOPIC = "knflow.runs"
"""Run and step lifecycle events out, written through the store's outbox."""
DLQ_SUFFIX = ".dlq"
"""Malformed messages of topic ``t`` are parked on ``t.dlq``."""


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return topic + DLQ_SUFFIX


@dataclass(frozen=True)
class Delivery:
    """One event handed to one consumer of a group.

    Call :meth:`ack` only once the event's effect is stored: until then the group's committed offset
    does not move past it, and a restarted or rebalanced consumer gets it again.

    Attributes:
        topic: where it was read from.
        partition: the partition it sits in.
        offset: its position in that partition.
        key: the key it was published with (the run id or subject), if any.
        event: the CloudEvent.
        headers: the raw message headers (``ce_*``, ``content-type``, ...).
        attempt: how many times this group was handed this event, when the adapter knows (else None).
    """

    topic: str
    partition: int
    offset: int
    key: str | None
    event: CloudEvent
    headers: Mapping[str, bytes]
    attempt: int | None
    _ack: Callable[[], Awaitable[None]] = field(repr=False, compare=False)

    @property
    def redelivered(self) -> bool | None:
        """Whether the group saw this event before (None when the adapter cannot tell)."""
        return None if self.attempt is None else self.attempt > 1

    async def ack(self) -> None:
        """Mark the event handled; the offset is committed once every earlier one is acked too.

        Acking twice, or after the partition moved to another consumer, is harmless.
        """
        await self._ack()


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be read as a CloudEvent, parked on the dead-letter topic.

    Attributes:
        topic: the topic it was first published to.
        partition: its partition there.
        offset: its offset there.
        key: its key.
        headers: its headers as received (the reason header included).
        value: its body, untouched.
        reason: why it was parked.
    """

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: Mapping[str, bytes]
    value: bytes
    reason: str


class Subscription(Protocol):
    """A consumer in a group: an async iterator of deliveries that ends when closed."""

    def __aiter__(self) -> AsyncIterator[Delivery]: ...

    async def __anext__(self) -> Delivery: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def close(self) -> None:
        """Leave the group; deliveries not acked yet go to the group's next consumer of their partition."""
        ...

    def lag(self) -> dict[int, int]:
        """Consumer lag by assigned partition: events in the log not yet handed to this consumer
        (the log's end offset minus the next offset to deliver), as last known."""
        ...


class EventBus(Protocol):
    """Topics of CloudEvents, partitioned by key, consumed at least once by consumer groups."""

    async def publish(self, topic: str, event: CloudEvent, key: str | None = None) -> None:
        """Append ``event`` to ``topic``; events with the same key keep their order.

        Raises:
            BusUnavailable: the bus could not store it (it may or may not have been stored).
            BusClosed: the bus is closed.
        """
        ...

    async def publish_many(self, topic: str, events: Sequence[tuple[CloudEvent, str | None]]) -> None:
        """Append ``(event, key)`` pairs, in order, waiting for all of them (one round trip where possible).

        Raises:
            BusUnavailable: some could not be stored.
            BusClosed: the bus is closed.
        """
        ...

    def subscribe(self, topic: str, group: str) -> Subscription:
        """A new consumer of ``topic`` in ``group``; a new group starts at the earliest retained event."""
        ...

    async def ensure_topic(self, topic: str) -> int:
        """Create ``topic`` with the configured partitions if it is missing; return its partition count.

        Raises:
            BusUnavailable: the bus could not be reached.
        """
        ...

    async def dead_letters(self, topic: str, limit: int = 100) -> list[DeadLetter]:
        """The first ``limit`` messages parked on ``topic``'s dead-letter topic.

        Raises:
            BusUnavailable: the bus could not be reached.
        """
        ...

    async def close(self) -> None:
        """Close every subscription and release connections."""
        ...
