"""``MemoryBus``: the embedded event bus (local mode and unit tests), with Kafka's delivery semantics.

Published events are kept as the objects and handed to subscribers as they are: encoding every event to
a Kafka binding message and decoding it again cost ~10% of the event loop per trigger and per lifecycle
event, and most lifecycle events are never read. So publisher and subscribers share one ``CloudEvent``
(knflow never changes an event after publishing it; the library's API is getters). A delivery's Kafka
``headers`` are made on first access. Messages appended raw (``publish_raw``: a DLQ replay, a test's
malformed message) go through the same decoding and dead-letter path as on Kafka; the Kafka adapter's own
codec is covered by its tests against a real broker.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

from cloudevents.core.bindings.kafka import KafkaMessage
from cloudevents.core.v1.event import CloudEvent

from ._offsets import AckTracker
from .codecs import decode_kafka, encode_kafka
from .dead_letters import dead_letter, dlq_headers
from .errors import BusClosed, MalformedCloudEvent
from .ports import DeadLetter, Delivery, dlq_topic


def partition_for(key: str | None, partitions: int, counter: int) -> int:
    """The partition of a keyed message (stable across processes), or round-robin without a key."""
    if key is None:
        return counter % partitions
    return zlib.crc32(key.encode()) % partitions


class _Unencoded:
    """An event as published (encoded only when asked for), or how to build it (built when first read)."""

    __slots__ = ("_build", "_event", "key")

    def __init__(self, event: CloudEvent | None, key: str | None, build: Callable[[], CloudEvent] | None = None):
        self._event, self._build, self.key = event, build, key

    @property
    def event(self) -> CloudEvent:
        if self._event is None:
            assert self._build is not None
            self._event, self._build = self._build(), None
        return self._event


class _LazyHeaders(Mapping[str, bytes]):
    """The Kafka headers of an event kept as an object, encoded on first access."""

    def __init__(self, entry: _Unencoded) -> None:
        self._entry = entry
        self._headers: Mapping[str, bytes] | None = None

    def _encoded(self) -> Mapping[str, bytes]:
        if self._headers is None:
            self._headers = encode_kafka(self._entry.event, self._entry.key).headers
        return self._headers

    def __getitem__(self, name: str) -> bytes:
        return self._encoded()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._encoded())

    def __len__(self) -> int:
        return len(self._encoded())


@dataclass
class _Partition:
    log: deque[KafkaMessage | _Unencoded] = field(default_factory=deque)
    base: int = 0  # offset of log[0]; earlier ones were dropped by retention

    @property
    def end(self) -> int:
        return self.base + len(self.log)

    def message(self, index: int) -> KafkaMessage:
        """The message at ``index`` in the log, encoded now (once) if it was kept as an event."""
        entry = self.log[index]
        if isinstance(entry, _Unencoded):
            entry = self.log[index] = encode_kafka(entry.event, entry.key)
        return entry


@dataclass
class _Group:
    committed: dict[int, int] = field(default_factory=dict)
    members: list[MemorySubscription] = field(default_factory=list)
    attempts: dict[tuple[int, int], int] = field(default_factory=dict)


@dataclass
class _Topic:
    partitions: list[_Partition]
    groups: dict[str, _Group] = field(default_factory=dict)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    counter: int = 0


class MemoryBus:
    """An in-process :class:`~knflow_eventing.ports.EventBus`.

    Args:
        partitions: partitions of each topic created on first use.
        retain_acked: events per partition kept after every group acknowledged them (a group created
            later starts from the earliest kept one); events not yet acknowledged are always kept.
        retain_ungrouped: events per partition kept for a topic no group consumes yet (lifecycle events
            nobody subscribed to must not grow without bound: a few KB each as objects, see
            ``docs/performance.md``).
    """

    def __init__(self, *, partitions: int = 4, retain_acked: int = 1000, retain_ungrouped: int = 1000) -> None:
        if partitions < 1 or retain_acked < 0:
            raise ValueError("partitions must be >= 1 and retain_acked >= 0")
        self._partitions = partitions
        self._retain = retain_acked
        self._retain_ungrouped = retain_ungrouped
        self._topics: dict[str, _Topic] = {}
        self._closed = False

    def _topic(self, name: str) -> _Topic:
        if self._closed:
            raise BusClosed()
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic([_Partition() for _ in range(self._partitions)])
        return topic

    async def ensure_topic(self, topic: str) -> int:
        """See :meth:`EventBus.ensure_topic`."""
        return len(self._topic(topic).partitions)

    async def publish(self, topic: str, event: CloudEvent, key: str | None = None) -> None:
        """See :meth:`EventBus.publish`."""
        await self._append(self._topic(topic), _Unencoded(event, key), key)

    async def publish_many(self, topic: str, events: Sequence[tuple[CloudEvent, str | None]]) -> None:
        """See :meth:`EventBus.publish_many`."""
        await self._append_all(self._topic(topic), [_Unencoded(event, key) for event, key in events])

    async def publish_lazily(self, topic: str, builds: Sequence[tuple[Callable[[], CloudEvent], str | None]]) -> None:
        """:meth:`publish_many` of events built only if a subscriber reads them (each ``build()`` at most
        once; it must not fail, nor depend on state that changes later). Most lifecycle events are never
        read: building each as a ``CloudEvent`` was ~5% of a busy control plane's CPU.

        Raises:
            BusClosed: the bus is closed.
        """
        await self._append_all(self._topic(topic), [_Unencoded(None, key, build) for build, key in builds])

    async def publish_raw(self, topic: str, message: KafkaMessage) -> None:
        """Append an already encoded message (a DLQ replay, or a test's malformed one).

        Raises:
            BusClosed: the bus is closed.
        """
        key = message.key.decode() if isinstance(message.key, bytes) else message.key
        await self._append(self._topic(topic), message, key)

    async def _append(self, state: _Topic, entry: KafkaMessage | _Unencoded, key: str | None) -> None:
        self._add(state, entry, key)
        await self._notify(state)

    async def _append_all(self, state: _Topic, entries: list[_Unencoded]) -> None:
        """Append several events, then wake the readers once."""
        for entry in entries:
            self._add(state, entry, entry.key)
        await self._notify(state)

    def _add(self, state: _Topic, entry: KafkaMessage | _Unencoded, key: str | None) -> None:
        partition = partition_for(key, len(state.partitions), state.counter)
        state.counter += 1
        log = state.partitions[partition]
        log.log.append(entry)
        if not state.groups and len(log.log) > self._retain_ungrouped:
            # Nobody consumes this topic (yet): keep a bounded tail for a group that joins later.
            log.log.popleft()
            log.base += 1

    @staticmethod
    async def _notify(state: _Topic) -> None:
        async with state.changed:
            state.changed.notify_all()

    def subscribe(self, topic: str, group: str) -> MemorySubscription:
        """See :meth:`EventBus.subscribe`."""
        return MemorySubscription(self, topic, group)

    async def dead_letters(self, topic: str, limit: int = 100) -> list[DeadLetter]:
        """See :meth:`EventBus.dead_letters`."""
        state = self._topic(dlq_topic(topic))
        letters: list[DeadLetter] = []
        for partition in state.partitions:
            for index in range(min(len(partition.log), limit - len(letters))):
                letters.append(dead_letter(partition.message(index)))
        return letters

    async def close(self) -> None:
        """See :meth:`EventBus.close`."""
        for state in self._topics.values():
            for group in state.groups.values():
                for member in list(group.members):
                    await member.close()
        self._closed = True

    # -- used by MemorySubscription ---------------------------------------------------------------

    def _join(self, topic: str, group: str, member: MemorySubscription) -> _Group:
        state = self._topic(topic)
        entry = state.groups.setdefault(group, _Group())
        entry.members.append(member)
        self._rebalance(state, entry)
        return entry

    def _leave(self, topic: str, group: str, member: MemorySubscription) -> None:
        state = self._topics[topic]
        entry = state.groups[group]
        entry.members.remove(member)
        self._rebalance(state, entry)

    def _rebalance(self, state: _Topic, group: _Group) -> None:
        # Like Kafka's range assignor: every member gets a contiguous share, and a moved partition
        # restarts at the group's committed offset, so its un-acked events are redelivered.
        count = len(group.members)
        for index, member in enumerate(group.members):
            owned = [p for p in range(len(state.partitions)) if p * count // len(state.partitions) == index]
            member._assign(owned, {p: group.committed.get(p, state.partitions[p].base) for p in owned})

    def _commit(self, topic: str, group: _Group, partition: int, offset: int) -> None:
        group.committed[partition] = max(offset, group.committed.get(partition, 0))
        for done in [k for k in group.attempts if k[0] == partition and k[1] < offset]:
            del group.attempts[done]
        self._trim(self._topics[topic], partition)

    def _trim(self, state: _Topic, partition: int) -> None:
        log = state.partitions[partition]
        acked_by_all = min((g.committed.get(partition, log.base) for g in state.groups.values()), default=log.base)
        while log.log and log.base < acked_by_all - self._retain:
            log.log.popleft()
            log.base += 1


class MemorySubscription:
    """A consumer of a :class:`MemoryBus` topic in a group; see :class:`~knflow_eventing.ports.Subscription`."""

    def __init__(self, bus: MemoryBus, topic: str, group: str) -> None:
        self._bus = bus
        self._topic = topic
        self._group_name = group
        self._group: _Group | None = None
        self._positions: dict[int, int] = {}
        self._tracker = AckTracker()
        self._next = 0  # round-robin start, so one busy partition does not starve the others
        self._closed = False

    def _assign(self, partitions: list[int], positions: dict[int, int]) -> None:
        for partition in list(self._positions):
            self._tracker.revoke(partition)
        self._positions = dict(positions)
        for partition in partitions:
            self._tracker.assign(partition)

    def __aiter__(self) -> Self:
        return self

    async def __aenter__(self) -> Self:
        self._join()
        return self

    def _join(self) -> None:
        if self._group is None and not self._closed:
            self._group = self._bus._join(self._topic, self._group_name, self)

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def __anext__(self) -> Delivery:
        self._join()
        state = self._bus._topics.get(self._topic)
        while not self._closed and state is not None:
            delivery = await self._poll(state)
            if delivery is not None:
                return delivery
            async with state.changed:
                if not self._closed and not self._ready(state):
                    await state.changed.wait()
        raise StopAsyncIteration

    def _ready(self, state: _Topic) -> bool:
        return any(pos < state.partitions[p].end for p, pos in self._positions.items())

    async def _poll(self, state: _Topic) -> Delivery | None:
        owned = sorted(self._positions)
        for step in range(len(owned)):
            partition = owned[(self._next + step) % len(owned)]
            log = state.partitions[partition]
            offset = max(self._positions[partition], log.base)
            if offset >= log.end:
                continue
            self._next += step + 1
            self._positions[partition] = offset + 1
            entry = log.log[offset - log.base]
            delivery = (
                self._deliver_event(partition, offset, entry)
                if isinstance(entry, _Unencoded)
                else await self._deliver(partition, offset, entry)
            )
            if delivery is not None:
                return delivery
        return None

    def _acker(self, partition: int, offset: int) -> Callable[[], Awaitable[None]]:
        assert self._group is not None
        epoch = self._tracker.delivered(partition, offset)
        group = self._group

        async def ack() -> None:
            commit = self._tracker.ack(partition, offset, epoch)
            if commit is not None:
                self._bus._commit(self._topic, group, partition, commit)

        return ack

    def _attempt(self, partition: int, offset: int) -> int:
        assert self._group is not None
        attempts = self._group.attempts
        attempt = attempts[partition, offset] = attempts.get((partition, offset), 0) + 1
        return attempt

    def _deliver_event(self, partition: int, offset: int, entry: _Unencoded) -> Delivery:
        ack = self._acker(partition, offset)
        attempt = self._attempt(partition, offset)
        return Delivery(self._topic, partition, offset, entry.key, entry.event, _LazyHeaders(entry), attempt, ack)

    async def _deliver(self, partition: int, offset: int, message: KafkaMessage) -> Delivery | None:
        ack = self._acker(partition, offset)
        key = message.key.decode() if isinstance(message.key, bytes) else message.key
        try:
            event = decode_kafka(message)
        except MalformedCloudEvent as exc:
            headers = dlq_headers(dict(message.headers), str(exc), self._topic, partition, offset)
            await self._bus.publish_raw(dlq_topic(self._topic), KafkaMessage(headers, message.key, message.value))
            await ack()
            return None
        return Delivery(
            self._topic, partition, offset, key, event, message.headers, self._attempt(partition, offset), ack
        )

    def lag(self) -> dict[int, int]:
        """See :meth:`~knflow_eventing.ports.Subscription.lag`."""
        state = self._bus._topics.get(self._topic)
        if state is None:
            return {}
        return {
            p: max(0, state.partitions[p].end - max(pos, state.partitions[p].base))
            for p, pos in self._positions.items()
        }

    async def close(self) -> None:
        """See :meth:`~knflow_eventing.ports.Subscription.close`."""
        if self._closed:
            return
        self._closed = True
        if self._group is not None:
            self._bus._leave(self._topic, self._group_name, self)
        state = self._bus._topics.get(self._topic)
        if state is not None:
            async with state.changed:
                state.changed.notify_all()
