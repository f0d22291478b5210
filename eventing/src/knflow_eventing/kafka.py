"""``KafkaBus``: the event bus on Apache Kafka through aiokafka (the ``kafka`` extra).

Events travel in the CloudEvents Kafka binding's binary mode; structured mode is accepted on input.
aiokafka is imported here and in ``kafka_consumer`` only, and only when a bus is used, so the embedded setup
never needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from cloudevents.core.bindings.kafka import KafkaMessage
from cloudevents.core.v1.event import CloudEvent

from .codecs import encode_kafka
from .dead_letters import dead_letter
from .errors import BusClosed, BusUnavailable
from .kafka_consumer import KafkaSubscription, _message
from .ports import DeadLetter, dlq_topic

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient

T = TypeVar("T")
_TOPIC_ALREADY_EXISTS = 36


class KafkaBus:
    """A :class:`~knflow_eventing.ports.EventBus` on Kafka.

    Args:
        bootstrap_servers: ``host:port[,host:port...]``.
        partitions: partitions of each topic this bus creates.
        replication_factor: replicas of each topic this bus creates.
        client_id: the Kafka client id prefix.
        session_timeout_ms: how long a silent consumer keeps its partitions (lower = faster failover).
        heartbeat_interval_ms: consumer heartbeat period (a third of the session timeout or less).
        max_poll_interval_ms: longest gap between two reads of a consumer before it is evicted.
        request_timeout_ms: how long a request (a publish included) may wait for the broker.
        join_timeout_s: how long entering a subscription waits for its partitions.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        partitions: int = 4,
        replication_factor: int = 1,
        client_id: str = "knflow",
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 1_000,
        max_poll_interval_ms: int = 300_000,
        request_timeout_ms: int = 30_000,
        join_timeout_s: float = 30.0,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.client_id = client_id
        self.consumer_options: dict[str, Any] = {
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
            "max_poll_interval_ms": max_poll_interval_ms,
            "rebalance_timeout_ms": session_timeout_ms,
            "request_timeout_ms": request_timeout_ms,
        }
        self.request_timeout_ms = request_timeout_ms
        self.join_timeout_s = join_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._topics: dict[str, int] = {}
        self._subscriptions: set[KafkaSubscription] = set()
        self._lock = asyncio.Lock()
        self._closed = False

    async def _guard(self, operation: str, topic: str | None, call: Callable[[], Awaitable[T]]) -> T:
        """Run a driver call, translating its errors at the adapter's edge."""
        from aiokafka.errors import KafkaError

        if self._closed:
            raise BusClosed()
        try:
            return await call()
        except KafkaError as exc:
            raise BusUnavailable(f"kafka {operation} failed: {exc!r}", operation=operation, topic=topic) from exc

    async def _started_producer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                from aiokafka import AIOKafkaProducer

                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap_servers,
                    client_id=f"{self.client_id}-producer",
                    acks="all",
                    enable_idempotence=True,  # broker-side dedup of the producer's own retries
                    request_timeout_ms=self.request_timeout_ms,
                )
                try:
                    await self._guard("connect", None, producer.start)
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def _started_admin(self) -> AIOKafkaAdminClient:
        async with self._lock:
            if self._admin is None:
                from aiokafka.admin import AIOKafkaAdminClient

                admin = AIOKafkaAdminClient(
                    bootstrap_servers=self.bootstrap_servers,
                    client_id=f"{self.client_id}-admin",
                    request_timeout_ms=self.request_timeout_ms,
                )
                try:
                    await self._guard("connect", None, admin.start)
                except BaseException:
                    await admin.close()
                    raise
                self._admin = admin
            return self._admin

    async def ensure_topic(self, topic: str) -> int:
        """See :meth:`EventBus.ensure_topic`; the broker's own auto-creation is never relied on."""
        known = self._topics.get(topic)
        if known is not None:
            return known
        from aiokafka.admin import NewTopic

        admin = await self._started_admin()
        new = NewTopic(topic, num_partitions=self.partitions, replication_factor=self.replication_factor)
        response = await self._guard("create topic", topic, lambda: admin.create_topics([new]))
        for name, code, *rest in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise BusUnavailable(
                    f"cannot create topic {name}: {code} {rest}", operation="create topic", topic=topic
                )
        for _ in range(50):  # metadata of a fresh topic may lag its creation by a moment
            described = await self._guard("describe topic", topic, lambda: admin.describe_topics([topic]))
            partitions = len(described[0]["partitions"]) if described and not described[0]["error_code"] else 0
            if partitions:
                self._topics[topic] = partitions
                return partitions
            await asyncio.sleep(0.1)
        raise BusUnavailable(f"topic {topic} has no partitions", operation="describe topic", topic=topic)

    async def publish(self, topic: str, event: CloudEvent, key: str | None = None) -> None:
        """See :meth:`EventBus.publish`."""
        await self.publish_raw(topic, encode_kafka(event, key))

    async def publish_many(self, topic: str, events: Sequence[tuple[CloudEvent, str | None]]) -> None:
        """See :meth:`EventBus.publish_many`; the sends are batched and awaited together."""
        await self.ensure_topic(topic)
        producer = await self._started_producer()

        async def send_all() -> None:
            futures = [await _send(producer, topic, encode_kafka(event, key)) for event, key in events]
            await asyncio.gather(*futures)

        await self._publishing(topic, producer, send_all)

    async def publish_raw(self, topic: str, message: KafkaMessage) -> None:
        """Send an already encoded message (a DLQ replay, or a test's malformed one).

        Raises:
            BusUnavailable: the broker did not acknowledge it.
            BusClosed: the bus is closed.
        """
        await self.ensure_topic(topic)
        producer = await self._started_producer()

        async def send() -> None:
            await (await _send(producer, topic, message))

        await self._publishing(topic, producer, send)

    async def _publishing(self, topic: str, producer: AIOKafkaProducer, call: Callable[[], Awaitable[None]]) -> None:
        """Publish through ``producer``; after an error the idempotent producer cannot recover from (its
        sequence numbers no longer match the broker's, e.g. after a broker restart lost its state) the
        producer is replaced, so that the caller's retry goes through a new producer id."""
        from aiokafka.errors import KafkaError, OutOfOrderSequenceNumber, UnknownProducerId

        try:
            await self._guard("publish", topic, call)
        except BusUnavailable as exc:
            if isinstance(exc.__cause__, OutOfOrderSequenceNumber | UnknownProducerId):
                async with self._lock:
                    if self._producer is producer:
                        self._producer = None
                with contextlib.suppress(KafkaError):
                    await producer.stop()
            raise

    def subscribe(self, topic: str, group: str) -> KafkaSubscription:
        """See :meth:`EventBus.subscribe`."""
        if self._closed:
            raise BusClosed()
        subscription = KafkaSubscription(self, topic, group)
        self._subscriptions.add(subscription)
        return subscription

    async def dead_letters(self, topic: str, limit: int = 100) -> list[DeadLetter]:
        """See :meth:`EventBus.dead_letters` (read without a group, from the beginning)."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        dlq = dlq_topic(topic)
        count = await self.ensure_topic(dlq)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        letters: list[DeadLetter] = []
        try:
            await self._guard("connect", dlq, consumer.start)
            partitions = [TopicPartition(dlq, p) for p in range(count)]
            consumer.assign(partitions)
            ends: dict[Any, int] = await self._guard("read", dlq, lambda: consumer.end_offsets(partitions))
            while len(letters) < limit and any([await consumer.position(tp) < end for tp, end in ends.items()]):
                batches = await self._guard("read", dlq, lambda: consumer.getmany(timeout_ms=500))
                for records in batches.values():
                    letters.extend(dead_letter(_message(record)) for record in records)
        finally:
            await consumer.stop()
        return letters[:limit]

    async def close(self) -> None:
        """See :meth:`EventBus.close`."""
        for subscription in list(self._subscriptions):
            await subscription.close()
        self._closed = True
        if self._producer is not None:
            await self._producer.stop()
        if self._admin is not None:
            await self._admin.close()
        self._producer = self._admin = None


async def _send(producer: AIOKafkaProducer, topic: str, message: KafkaMessage) -> asyncio.Future[Any]:
    key = message.key.encode() if isinstance(message.key, str) else message.key
    future: asyncio.Future[Any] = await producer.send(
        topic, message.value, key=key, headers=list(message.headers.items())
    )
    return future
