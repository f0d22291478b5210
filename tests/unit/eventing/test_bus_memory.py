"""The bus contract on MemoryBus, and what only the memory adapter promises (retention, attempts)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage
from cloudevents.core.v1.event import CloudEvent

from knflow_eventing import BusClosed, MemoryBus
from knflow_eventing._offsets import AckTracker
from tests.unit.eventing.bus_contract import (
    PARTITIONS,
    event,
    number,
    take,
    test_malformed_messages_go_to_the_dlq_and_consumption_goes_on,
    test_one_group_shares_partitions_and_sees_each_event_once,
    test_order_is_kept_per_key,
    test_round_trip_keeps_attributes_data_extensions_and_key,
    test_topics_are_created_with_the_configured_partitions,
    test_unacked_event_is_redelivered_after_restart_and_acked_ones_are_not,
)

__all__ = [
    "test_malformed_messages_go_to_the_dlq_and_consumption_goes_on",
    "test_one_group_shares_partitions_and_sees_each_event_once",
    "test_order_is_kept_per_key",
    "test_round_trip_keeps_attributes_data_extensions_and_key",
    "test_topics_are_created_with_the_configured_partitions",
    "test_unacked_event_is_redelivered_after_restart_and_acked_ones_are_not",
]


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus(partitions=PARTITIONS)
    yield bus
    await bus.close()


async def test_acknowledged_events_beyond_retention_are_dropped() -> None:
    bus = MemoryBus(partitions=1, retain_acked=5)
    await bus.publish_many("t", [(event(n), "k") for n in range(50)])
    async with bus.subscribe("t", "g1") as sub:
        await take(sub, 50)
    assert len(bus._topics["t"].partitions[0].log) == 5
    async with bus.subscribe("t", "late") as sub:
        got = await take(sub, 5)
    assert [d.offset for d in got] == list(range(45, 50))
    await bus.close()


async def test_unacked_events_are_kept_whatever_the_retention() -> None:
    bus = MemoryBus(partitions=1, retain_acked=0)
    await bus.publish_many("t", [(event(n), "k") for n in range(10)])
    async with bus.subscribe("t", "g") as sub:
        await take(sub, 10, ack=False)
    assert len(bus._topics["t"].partitions[0].log) == 10
    await bus.close()


async def test_attempts_count_redeliveries() -> None:
    bus = MemoryBus(partitions=1)
    await bus.publish("t", event(1), key="k")
    for attempt in (1, 2, 3):
        async with bus.subscribe("t", "g") as sub:
            [got] = await take(sub, 1, ack=False)
        assert got.attempt == attempt
        assert got.redelivered is (attempt > 1)
    await bus.close()


async def test_closing_the_bus_ends_subscriptions_and_refuses_publishing() -> None:
    bus = MemoryBus()
    sub = bus.subscribe("t", "g")
    waiting = asyncio.create_task(anext(sub))
    await asyncio.sleep(0.01)
    await bus.close()
    with pytest.raises(StopAsyncIteration):
        await waiting
    with pytest.raises(BusClosed):
        await bus.publish("t", event(1))


async def test_a_late_ack_after_a_rebalance_is_ignored() -> None:
    bus = MemoryBus(partitions=1)
    await bus.publish("t", event(1), key="k")
    first = bus.subscribe("t", "g")
    [held] = await take(first, 1, ack=False)
    async with bus.subscribe("t", "g") as second:  # takes nothing: one partition, first still owns it
        await first.close()  # the partition moves to second, which restarts at the commit
        [again] = await take(second, 1, ack=False)
        await held.ack()
        assert bus._topics["t"].groups["g"].committed.get(0) is None
        await again.ack()
        assert bus._topics["t"].groups["g"].committed[0] == 1
    await bus.close()


def test_ack_tracker_commits_only_the_acked_prefix() -> None:
    tracker = AckTracker()
    epochs = [tracker.delivered(0, offset) for offset in (10, 11, 12)]
    assert tracker.ack(0, 12, epochs[2]) is None
    assert tracker.ack(0, 10, epochs[0]) == 11
    assert tracker.ack(0, 11, epochs[1]) == 13
    assert tracker.outstanding(0) == 0
    stale = tracker.delivered(0, 13)
    tracker.revoke(0)
    assert tracker.ack(0, 13, stale) is None


async def test_events_published_before_any_group_read_the_same_as_those_published_after() -> None:
    # Events are kept as objects (speed); whether a group existed when they were published must not show.
    bus = MemoryBus(partitions=1)
    await bus.publish("t", event(1, traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "k")
    async with bus.subscribe("t", "g") as sub:
        await bus.publish("t", event(2, traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "k")
        before, after = await take(sub, 2)
    assert [number(before), number(after)] == [1, 2]
    assert before.key == after.key == "k"
    assert dict(before.headers).keys() == dict(after.headers).keys()
    assert before.headers["ce_traceparent"] == after.headers["ce_traceparent"]
    assert before.event.get_extension("traceparent") == after.event.get_extension("traceparent")
    assert before.event.get_attributes().keys() == after.event.get_attributes().keys()
    await bus.close()


async def test_a_dead_letter_topic_nobody_consumes_still_lists_its_letters() -> None:
    bus = MemoryBus(partitions=1)
    await bus.publish_raw("t", KafkaMessage({"content-type": b"text/plain"}, b"k", b"not an event"))
    async with bus.subscribe("t", "g") as sub:
        await bus.publish("t", event(3), "k")
        [good] = await take(sub, 1)
    [letter] = await bus.dead_letters("t")
    assert number(good) == 3
    assert letter.value == b"not an event" and letter.key == "k" and letter.topic == "t"
    await bus.close()


async def test_lazily_published_events_are_built_only_when_read_and_once() -> None:
    bus = MemoryBus(partitions=1, retain_ungrouped=3)
    built: list[int] = []

    def build(n: int) -> Callable[[], CloudEvent]:
        def make() -> CloudEvent:
            built.append(n)
            return event(n)

        return make

    await bus.publish_lazily("t", [(build(n), "k") for n in range(5)])
    assert built == []  # nobody reads the topic: nothing built, and only the last 3 kept
    await bus.publish_many("t", [(event(5), "k")])
    async with bus.subscribe("t", "g") as sub:
        got = await take(sub, 3)
    assert [number(d) for d in got] == [3, 4, 5]  # in order with the eagerly published one
    assert built == [3, 4]
    assert got[0].headers["ce_id"] == got[0].event.get_id().encode()
    async with bus.subscribe("t", "late") as sub:
        again = await take(sub, 3)
    assert [number(d) for d in again] == [3, 4, 5]
    assert built == [3, 4]  # built once, whoever reads it
    await bus.close()
