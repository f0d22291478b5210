"""The bus contract on KafkaBus against the real broker (scripts/services/kafka.sh), plus structured
input and a broker restart in the middle of a stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from cloudevents.core.bindings import kafka as binding
from cloudevents.core.formats.json import JSONFormat

from knflow_eventing import BusUnavailable
from knflow_eventing.kafka import KafkaBus
from tests.services import kafka_bootstrap, restart_kafka
from tests.unit.eventing.bus_contract import (
    PARTITIONS,
    event,
    take,
    test_malformed_messages_go_to_the_dlq_and_consumption_goes_on,
    test_one_group_shares_partitions_and_sees_each_event_once,
    test_order_is_kept_per_key,
    test_round_trip_keeps_attributes_data_extensions_and_key,
    test_topics_are_created_with_the_configured_partitions,
    test_unacked_event_is_redelivered_after_restart_and_acked_ones_are_not,
    unique,
)

__all__ = [
    "test_malformed_messages_go_to_the_dlq_and_consumption_goes_on",
    "test_one_group_shares_partitions_and_sees_each_event_once",
    "test_order_is_kept_per_key",
    "test_round_trip_keeps_attributes_data_extensions_and_key",
    "test_topics_are_created_with_the_configured_partitions",
    "test_unacked_event_is_redelivered_after_restart_and_acked_ones_are_not",
]

pytestmark = pytest.mark.kafka


def make_bus() -> KafkaBus:
    # The broker's group.min.session.timeout.ms is 6 s; short heartbeats make rebalances quick.
    return KafkaBus(
        kafka_bootstrap(),
        partitions=PARTITIONS,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=300,
        request_timeout_ms=10_000,
        join_timeout_s=20.0,
    )


@pytest.fixture
async def bus() -> AsyncIterator[KafkaBus]:
    bus = make_bus()
    yield bus
    await bus.close()


async def test_structured_mode_input_is_accepted(bus: KafkaBus) -> None:
    topic = unique("structured")
    sent = event(7, traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    await bus.publish_raw(topic, binding.to_structured(sent, JSONFormat(), lambda _e: "run-7"))
    async with bus.subscribe(topic, unique("g")) as sub:
        [got] = await take(sub, 1)
    assert got.event.get_attributes() == sent.get_attributes()
    assert got.event.get_data() == sent.get_data()
    assert got.key == "run-7"
    assert got.headers["content-type"] == b"application/cloudevents+json"


async def test_a_broker_restart_mid_stream_loses_nothing(bus: KafkaBus) -> None:
    topic, group, total = unique("restart"), unique("g"), 500
    await bus.ensure_topic(topic)
    received: list[str] = []
    published = 0
    retries = 0

    async def produce() -> None:
        nonlocal published, retries
        for n in range(total):
            sent = event(n, key=f"key-{n % 10}")
            while True:  # a publish the broker did not acknowledge is retried: duplicates, never losses
                try:
                    await bus.publish(topic, sent, key=f"key-{n % 10}")
                    break
                except BusUnavailable:
                    retries += 1
                    await asyncio.sleep(0.2)
            published += 1
            await asyncio.sleep(0.002)

    async def consume() -> None:
        async with bus.subscribe(topic, group) as sub:
            async for delivery in sub:
                received.append(delivery.event.get_id())
                await delivery.ack()
                if len(set(received)) == total:
                    return

    consumer = asyncio.create_task(consume())
    producer = asyncio.create_task(produce())
    async with asyncio.timeout(30):
        while published < total // 3:
            await asyncio.sleep(0.01)
    at_restart = published
    await asyncio.to_thread(restart_kafka)
    assert published < total  # the restart really happened mid-stream
    try:
        async with asyncio.timeout(120):
            await asyncio.gather(producer, consumer)
    finally:
        for task in (producer, consumer):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert at_restart < total
    assert published == total
    assert len(received) >= total
    assert len(set(received)) == total
