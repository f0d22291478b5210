"""``KafkaSubscription``: a consumer of a :class:`~knflow_eventing.kafka.KafkaBus` topic in a group.

Offsets move only past acknowledged events (an ack tracker per partition, commits shared by concurrent
acks); malformed messages are parked on the dead-letter topic; a rebalance drops what the partition's
next owner will redeliver.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

from cloudevents.core.bindings.kafka import KafkaMessage

from ._offsets import AckTracker
from .codecs import decode_kafka
from .dead_letters import dlq_headers
from .errors import BusClosed, BusUnavailable, MalformedCloudEvent
from .ports import Delivery, dlq_topic

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer

    from .kafka import KafkaBus

log = logging.getLogger("knflow_eventing.kafka")


def _message(record: Any) -> KafkaMessage:
    return KafkaMessage(headers=dict(record.headers or ()), key=record.key, value=record.value or b"")


class KafkaSubscription:
    """A Kafka consumer in a group; see :class:`~knflow_eventing.ports.Subscription`.

    Offsets are committed only from :meth:`Delivery.ack`, for the acked prefix of each partition.
    """

    def __init__(self, bus: KafkaBus, topic: str, group: str) -> None:
        self._bus = bus
        self._topic = topic
        self._group = group
        self._consumer: AIOKafkaConsumer | None = None
        self._tracker = AckTracker()
        self._to_commit: dict[int, int] = {}  # acked prefixes whose commit has not succeeded yet
        self._committing: asyncio.Task[None] | None = None
        self._next_offsets: dict[int, int] = {}  # partition -> offset after the last one delivered
        self._closed = False

    async def _start(self) -> AIOKafkaConsumer:
        if self._closed:
            raise BusClosed()
        if self._consumer is None:
            from aiokafka import AIOKafkaConsumer

            await self._bus.ensure_topic(self._topic)
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bus.bootstrap_servers,
                client_id=f"{self._bus.client_id}-{self._group}",
                group_id=self._group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                **self._bus.consumer_options,
            )
            consumer.subscribe([self._topic], listener=_listener(self))
            try:
                await self._bus._guard("subscribe", self._topic, consumer.start)
            except BaseException:
                await consumer.stop()
                raise
            self._consumer = consumer
        return self._consumer

    def __aiter__(self) -> Self:
        return self

    async def __aenter__(self) -> Self:
        """Join the group and wait (up to the bus's ``join_timeout_s``) until partitions are assigned."""
        consumer = await self._start()
        deadline = asyncio.get_running_loop().time() + self._bus.join_timeout_s
        # aiokafka joins in a background task and exposes no event for it: poll the assignment.
        while not consumer.assignment() and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def __anext__(self) -> Delivery:
        from aiokafka.errors import ConsumerStoppedError

        while True:
            if self._closed:
                raise StopAsyncIteration
            consumer = await self._start()
            try:
                record = await self._bus._guard("read", self._topic, consumer.getone)
            except ConsumerStoppedError:
                raise StopAsyncIteration from None
            delivery = await self._deliver(record)
            if delivery is not None:
                return delivery

    async def _deliver(self, record: Any) -> Delivery | None:
        partition, offset = record.partition, record.offset
        self._next_offsets[partition] = offset + 1
        epoch = self._tracker.delivered(partition, offset)
        message = _message(record)

        async def ack() -> None:
            commit = self._tracker.ack(partition, offset, epoch)
            if commit is not None:
                self._to_commit[partition] = commit
                await self._commit_soon()

        try:
            event = decode_kafka(message)
        except MalformedCloudEvent as exc:
            await self._park(message, str(exc), partition, offset)
            await ack()
            return None
        key = record.key.decode(errors="replace") if record.key is not None else None
        return Delivery(self._topic, partition, offset, key, event, message.headers, None, ack)

    async def _park(self, message: KafkaMessage, reason: str, partition: int, offset: int) -> None:
        """Put a malformed message on the DLQ, retrying while the broker is away (it must not be lost)."""
        headers = dlq_headers(dict(message.headers), reason, self._topic, partition, offset)
        parked = KafkaMessage(headers=headers, key=message.key, value=message.value)
        log.warning("parking malformed message %s[%d]@%d on the DLQ: %s", self._topic, partition, offset, reason)
        while True:
            try:
                await self._bus.publish_raw(dlq_topic(self._topic), parked)
                return
            except BusUnavailable:
                await asyncio.sleep(0.5)

    async def _commit_soon(self) -> None:
        """Commit the acked offsets, sharing one in-flight commit among concurrent acks.

        A commit is a round trip to the group coordinator: acks arriving while one is in flight are
        folded into the next, so a busy consumer commits a few times per round trip instead of once per
        event (offsets still move only past acknowledged events).
        """
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit_while_pending())
        await asyncio.shield(self._committing)

    async def _commit_while_pending(self) -> None:
        while self._to_commit:
            before = dict(self._to_commit)
            await self._commit()
            if self._to_commit == before:
                return  # the commit failed and kept its offsets: the next ack or the close tries again

    async def _commit(self, partitions: Sequence[int] | None = None) -> None:
        from aiokafka import TopicPartition
        from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

        wanted = {p: o for p, o in self._to_commit.items() if partitions is None or p in partitions}
        if not wanted or self._consumer is None:
            return
        try:
            await self._consumer.commit({TopicPartition(self._topic, p): o for p, o in wanted.items()})
        except (CommitFailedError, IllegalStateError) as exc:
            # The partitions moved to another consumer, which restarts from the last commit: at least once.
            log.info("commit of %s for group %s dropped after a rebalance: %r", wanted, self._group, exc)
        except KafkaError as exc:
            # Transient (broker away): keep the offsets, the next ack or the close commits them.
            log.warning("commit of %s for group %s failed, will retry: %r", wanted, self._group, exc)
            return
        for partition, committed in wanted.items():
            if self._to_commit.get(partition) == committed:
                del self._to_commit[partition]

    def lag(self) -> dict[int, int]:
        """See :meth:`~knflow_eventing.ports.Subscription.lag` (the end offsets of the last fetch)."""
        if self._consumer is None:
            return {}
        lags: dict[int, int] = {}
        for tp in self._consumer.assignment():
            end = self._consumer.highwater(tp)
            if end is not None and tp.partition in self._next_offsets:
                lags[tp.partition] = max(0, end - self._next_offsets[tp.partition])
        return lags

    async def close(self) -> None:
        """See :meth:`~knflow_eventing.ports.Subscription.close`."""
        if self._closed:
            return
        self._closed = True
        self._bus._subscriptions.discard(self)
        if self._consumer is not None:
            if self._committing is not None:
                await asyncio.gather(self._committing, return_exceptions=True)
            await self._commit()
            await self._consumer.stop()


def _listener(subscription: KafkaSubscription) -> Any:
    """A rebalance listener keeping the ack tracker in step with the group's partition assignment."""
    from aiokafka.abc import ConsumerRebalanceListener

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no types
        async def on_partitions_revoked(self, revoked: Any) -> None:
            partitions = [tp.partition for tp in revoked]
            await subscription._commit(partitions)
            for partition in partitions:
                subscription._tracker.revoke(partition)
                subscription._to_commit.pop(partition, None)

        async def on_partitions_assigned(self, assigned: Any) -> None:
            for tp in assigned:
                subscription._tracker.assign(tp.partition)

    return Listener()
