"""The EventBus contract, run on every adapter: import these tests into a module that defines a
``bus`` fixture (a fresh bus with 3 partitions per topic, which also has ``publish_raw``)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from typing import Protocol

from cloudevents.core.bindings.kafka import KafkaMessage
from cloudevents.core.v1.event import CloudEvent

from knflow_eventing import DeadLetter, Delivery, EventBus, Subscription, make_event

PARTITIONS = 3
WAIT_S = 30.0


class RawBus(EventBus, Protocol):
    async def publish_raw(self, topic: str, message: KafkaMessage) -> None: ...


def unique(prefix: str) -> str:
    return f"t.{prefix}.{secrets.token_hex(4)}"


def event(n: int, *, key: str = "k", **extensions: str) -> CloudEvent:
    return make_event(
        "dev.knflow.test", "/tests/contract", {"n": n, "key": key}, subject=f"s/{n}", extensions=extensions
    )


async def take(sub: Subscription, count: int, *, ack: bool = True) -> list[Delivery]:
    got: list[Delivery] = []
    async with asyncio.timeout(WAIT_S):
        while len(got) < count:
            delivery = await anext(sub)
            got.append(delivery)
            if ack:
                await delivery.ack()
    return got


async def nothing_more(sub: Subscription, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await anext(sub)
    except TimeoutError:
        return True
    return False


def number(delivery: Delivery) -> int:
    data = delivery.event.get_data()
    assert isinstance(data, dict)
    return int(data["n"])


def numbers(deliveries: Sequence[Delivery]) -> list[int]:
    return [number(d) for d in deliveries]


async def test_round_trip_keeps_attributes_data_extensions_and_key(bus: RawBus) -> None:
    topic = unique("roundtrip")
    sent = event(1, traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    await bus.publish(topic, sent, key="run-1")
    async with bus.subscribe(topic, unique("g")) as sub:
        [got] = await take(sub, 1)
    assert got.event.get_attributes() == sent.get_attributes()
    assert got.event.get_data() == {"n": 1, "key": "k"}
    assert got.event.get_extension("traceparent") == sent.get_extension("traceparent")
    assert got.event.get_extension("partitionkey") is None
    assert got.key == "run-1"
    assert got.topic == topic
    assert got.headers["ce_type"] == b"dev.knflow.test"
    assert got.redelivered in (False, None)


async def test_order_is_kept_per_key(bus: RawBus) -> None:
    topic = unique("order")
    keys = [f"key-{i}" for i in range(4)]
    await bus.publish_many(topic, [(event(n, key=key), key) for n in range(15) for key in keys])
    async with bus.subscribe(topic, unique("g")) as sub:
        got = await take(sub, 60)
    for key in keys:
        assert [number(d) for d in got if d.key == key] == list(range(15))
    assert {d.partition for d in got if d.key == keys[0]} == {got[[d.key for d in got].index(keys[0])].partition}


async def test_one_group_shares_partitions_and_sees_each_event_once(bus: RawBus) -> None:
    topic, group = unique("share"), unique("g")
    await bus.ensure_topic(topic)
    first, second = bus.subscribe(topic, group), bus.subscribe(topic, group)
    seen: dict[int, list[Delivery]] = {0: [], 1: []}
    total = 60

    async def consume(index: int, sub: Subscription) -> None:
        async for delivery in sub:
            seen[index].append(delivery)
            await delivery.ack()

    async with first, second:
        await bus.publish_many(topic, [(event(n, key=f"key-{n}"), f"key-{n}") for n in range(total)])
        tasks = [asyncio.create_task(consume(0, first)), asyncio.create_task(consume(1, second))]
        async with asyncio.timeout(WAIT_S):
            while len(seen[0]) + len(seen[1]) < total:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # room for a duplicate to show up
    await asyncio.gather(*tasks)
    assert sorted(numbers(seen[0]) + numbers(seen[1])) == list(range(total))
    assert seen[0] and seen[1]
    assert not {d.partition for d in seen[0]} & {d.partition for d in seen[1]}


async def test_unacked_event_is_redelivered_after_restart_and_acked_ones_are_not(bus: RawBus) -> None:
    topic, group = unique("ack"), unique("g")
    await bus.publish_many(topic, [(event(n), "same-key") for n in range(3)])
    async with bus.subscribe(topic, group) as sub:
        one, two, three = await take(sub, 3, ack=False)
        await one.ack()
        await three.ack()  # acked out of order: must not commit past two
    assert numbers([one, two, three]) == [0, 1, 2]
    async with bus.subscribe(topic, group) as sub:
        again = await take(sub, 2)
        assert numbers(again) == [1, 2]
        assert again[0].redelivered in (True, None)
        if again[0].attempt is not None:
            assert again[0].attempt == 2
    async with bus.subscribe(topic, group) as sub:
        assert await nothing_more(sub, 2.0)


async def test_malformed_messages_go_to_the_dlq_and_consumption_goes_on(bus: RawBus) -> None:
    topic = unique("dlq")
    good = {"ce_specversion": b"1.0", "ce_source": b"/x", "ce_type": b"t", "content-type": b"application/json"}
    await bus.publish(topic, event(1), key="k")
    await bus.publish_raw(topic, KafkaMessage({k: v for k, v in good.items()}, "k", b'{"a": 1}'))  # no ce_id
    await bus.publish_raw(topic, KafkaMessage({**good, "ce_id": b"2"}, "k", b"{not json"))
    await bus.publish_raw(topic, KafkaMessage({**good, "ce_id": b"3", "ce_specversion": b"0.3"}, "k", b"{}"))
    await bus.publish_raw(topic, KafkaMessage({"content-type": b"text/plain"}, "k", b"hello"))
    await bus.publish(topic, event(2), key="k")
    async with bus.subscribe(topic, unique("g")) as sub:
        got = await take(sub, 2)
    assert numbers(got) == [1, 2]
    letters: list[DeadLetter] = []
    async with asyncio.timeout(WAIT_S):
        while len(letters) < 4:
            letters = await bus.dead_letters(topic)
    reasons = sorted(letter.reason for letter in letters)
    assert [r.split(":", 1)[0] for r in reasons] == ["data", "id", "specversion", "specversion"]
    assert any("0.3" in r for r in reasons)
    assert {letter.topic for letter in letters} == {topic}
    assert all(letter.key == "k" and letter.headers["knflow_dlq_reason"] for letter in letters)
    assert b"hello" in {letter.value for letter in letters}


async def test_topics_are_created_with_the_configured_partitions(bus: RawBus) -> None:
    assert await bus.ensure_topic(unique("created")) == PARTITIONS
    topic = unique("published")
    await bus.publish(topic, event(1), key="k")
    assert await bus.ensure_topic(topic) == PARTITIONS
    async with bus.subscribe(topic, unique("g")) as sub:
        await bus.publish_many(topic, [(event(n, key=str(n)), str(n)) for n in range(30)])
        got = await take(sub, 31)
    assert {d.partition for d in got} == set(range(PARTITIONS))


CONTRACT = [
    test_round_trip_keeps_attributes_data_extensions_and_key,
    test_order_is_kept_per_key,
    test_one_group_shares_partitions_and_sees_each_event_once,
    test_unacked_event_is_redelivered_after_restart_and_acked_ones_are_not,
    test_malformed_messages_go_to_the_dlq_and_consumption_goes_on,
    test_topics_are_created_with_the_configured_partitions,
]
