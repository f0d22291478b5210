"""Triggers through the real Kafka broker (scripts/services/kafka.sh) and the real Postgres: a broker
restart with 500 events in flight, a control plane killed between consuming and committing, malformed
messages parked on the DLQ, lifecycle events on ``knflow.runs``."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from knflow_eventing import RUNS_TOPIC, TRIGGERS_TOPIC, dlq_topic
from knflow_eventing.kafka import KafkaBus
from tests.e2e.control_plane.processes import ControlPlane as PlaneProcess
from tests.services import empty_kafka_topics, fresh_postgres_database, kafka_bootstrap, restart_kafka

from .plane import FLOWS, running_plane, settled_runs

pytestmark = pytest.mark.kafka

TOPICS = [TRIGGERS_TOPIC, RUNS_TOPIC, dlq_topic(TRIGGERS_TOPIC), "billing", dlq_topic("billing")]


@pytest.fixture
async def kafka_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    await empty_kafka_topics(TOPICS)
    return {
        "event_bus": "kafka",
        "kafka_bootstrap": kafka_bootstrap(),
        "kafka_partitions": 4,
        "kafka_session_timeout_ms": 6_000,
        "consumer_group": f"knflow-test-{request.node.name[:40]}",
        "database_url": await fresh_postgres_database("kafka_triggers"),
    }


def order_event(n: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"order-{n}",
        "source": "/shop/eu",
        "type": "com.shop.order.created",
        "subject": f"order-{n}",
        "data": {"order": f"EU-{n}", "region": "eu"},
    }


async def post_until_taken(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> int:
    """POST a batch, again and again while the bus is down (503): sending again is safe. Attempts made."""
    body = json.dumps(events)
    for attempt in range(1, 200):
        try:
            reply = await client.post(
                "/v1/events", content=body, headers={"content-type": "application/cloudevents-batch+json"}
            )
        except httpx.TransportError:
            reply = None
        if reply is not None and reply.status_code == 202:
            return attempt
        assert reply is None or reply.status_code == 503, reply.text
        await asyncio.sleep(0.2)
    raise AssertionError("the events were never taken")


async def test_a_broker_restart_with_500_events_in_flight_gives_exactly_500_runs(
    tmp_path: Path, kafka_settings: dict[str, Any]
) -> None:
    async with running_plane(tmp_path, **kafka_settings) as (_cp, client):
        batches = [[order_event(n) for n in range(i, i + 25)] for i in range(0, 500, 25)]
        for batch in batches[:4]:
            await post_until_taken(client, batch)
        # Bounce the broker (in a thread: the script blocks) while the rest are being posted and consumed.
        bounce = threading.Thread(target=restart_kafka)
        bounce.start()
        attempts = [await post_until_taken(client, batch) for batch in batches[4:]]
        await asyncio.to_thread(bounce.join)
        runs = await settled_runs(client, "eu_orders", 500, timeout=420)
        orders = [run["inputs"]["order"] for run in runs]
        assert len(orders) == 500, f"{len(orders)} runs for 500 events"
        assert sorted(orders) == sorted(f"EU-{n}" for n in range(500))
        assert all(run["status"] == "succeeded" for run in runs)
        assert sum(attempts) >= len(attempts)  # every batch was taken (some after retries)


async def test_a_control_plane_killed_between_consuming_and_committing_loses_and_doubles_nothing(
    tmp_path: Path, kafka_settings: dict[str, Any]
) -> None:
    shutil.copytree(FLOWS, tmp_path / "flows")
    env = {f"KNFLOW_{key.upper()}": str(value) for key, value in kafka_settings.items()}
    env["KNFLOW_POLL_INTERVAL"] = "0.2"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = PlaneProcess(tmp_path / "a" / ".knflow", env={**env, "KNFLOW_WORKER_NAME": "first"}).start()
    second: PlaneProcess | None = None
    try:
        assert first.cli("deploy", str(tmp_path / "flows" / "shop.py")).returncode == 0
        async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
            events = [order_event(n) for n in range(300)]
            for i in range(0, 300, 50):
                await post_until_taken(client, events[i : i + 50])
            # Kill it while it is consuming: some runs are created, later offsets not yet committed.
            for _ in range(400):
                page = (await client.get("/v1/runs", params={"workflow": "eu_orders", "limit": 500})).json()
                if len(page["runs"]) >= 30:
                    break
                await asyncio.sleep(0.02)
        first.kill()
        second = PlaneProcess(tmp_path / "b" / ".knflow", env={**env, "KNFLOW_WORKER_NAME": "second"}).start()
        async with httpx.AsyncClient(base_url=second.url, timeout=30) as client:
            runs = await settled_runs(client, "eu_orders", 300, timeout=240)
        orders = sorted(run["inputs"]["order"] for run in runs)
        assert orders == sorted(f"EU-{n}" for n in range(300)), f"{len(orders)} runs for 300 events"
        assert all(run["status"] == "succeeded" for run in runs), [r for r in runs if r["status"] != "succeeded"]
    finally:
        for plane in (first, second):
            if plane is not None:
                plane.stop()


async def test_a_malformed_kafka_message_is_parked_on_the_dlq_and_consumption_goes_on(
    tmp_path: Path, kafka_settings: dict[str, Any]
) -> None:
    async with running_plane(tmp_path, **kafka_settings) as (cp, client):
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap())
        await producer.start()
        try:
            bad_headers = [("ce_specversion", b"1.0"), ("ce_type", b"com.shop.order.created"), ("ce_source", b"/x")]
            await producer.send_and_wait(TRIGGERS_TOPIC, b'{"order": "lost"}', key=b"k", headers=bad_headers)
            await producer.send_and_wait(TRIGGERS_TOPIC, b"not even json", key=b"k")
            good = [
                *bad_headers[:2],
                ("ce_source", b"/shop/eu"),
                ("ce_id", b"fine"),
                ("content-type", b"application/json"),
            ]
            await producer.send_and_wait(
                TRIGGERS_TOPIC, json.dumps({"order": "EU-1", "region": "eu"}).encode(), key=b"k", headers=good
            )
        finally:
            await producer.stop()
        [run] = await settled_runs(client, "eu_orders", 1, timeout=60)
        assert run["inputs"]["order"] == "EU-1"
        # Parking is at least once too (a rebalance before the commit parks a message again): count by origin.
        parked: dict[tuple[int, int], str] = {}
        for _ in range(100):
            parked = {(x.partition, x.offset): x.reason for x in await cp.bus.dead_letters(TRIGGERS_TOPIC)}
            if len(parked) == 2:
                break
            await asyncio.sleep(0.1)
        assert sorted(reason.split(":")[0] for reason in parked.values()) == ["id", "specversion"]
        letters = await cp.bus.dead_letters(TRIGGERS_TOPIC)
        assert {letter.value for letter in letters} == {b'{"order": "lost"}', b"not even json"}


async def test_lifecycle_events_are_relayed_to_the_runs_topic(tmp_path: Path, kafka_settings: dict[str, Any]) -> None:
    async with running_plane(tmp_path, **kafka_settings) as (_cp, client):
        reply = await client.post("/hooks/orders", json={"order": "K-1"})
        assert reply.status_code == 200, reply.text
        run_id = reply.headers["x-knflow-run-id"]
        reader = KafkaBus(kafka_bootstrap(), partitions=4, session_timeout_ms=6_000, heartbeat_interval_ms=300)
        seen: list[str] = []
        try:
            async with reader.subscribe(RUNS_TOPIC, "test-reader") as sub:
                async for delivery in sub:
                    assert delivery.headers["ce_source"] == f"/runs/{delivery.key}".encode()
                    if delivery.key == run_id:
                        seen.append(delivery.event.get_type())
                    if seen[-1:] == ["dev.knflow.run.succeeded"]:
                        break
        finally:
            await reader.close()
        assert seen == [
            "dev.knflow.run.started",
            "dev.knflow.step.started",
            "dev.knflow.step.succeeded",
            "dev.knflow.run.succeeded",
        ]


async def test_json_data_base64_on_a_topic_starts_its_run_and_a_nan_is_parked_naming_data(
    tmp_path: Path, kafka_settings: dict[str, Any]
) -> None:
    async with running_plane(tmp_path, **kafka_settings) as (cp, client):
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap())
        await producer.start()
        try:
            structured = [("content-type", b"application/cloudevents+json")]
            invoice = {
                "specversion": "1.0",
                "id": "inv-64",
                "source": "/billing",
                "type": "com.billing.invoice",
                "datacontenttype": "application/json",
                "data_base64": base64.b64encode(b'{"order": "B-64"}').decode(),
            }
            await producer.send_and_wait("billing", json.dumps(invoice).encode(), key=b"k", headers=structured)
            binary = [
                ("ce_specversion", b"1.0"),
                ("ce_type", b"com.billing.invoice"),
                ("ce_source", b"/billing"),
                ("ce_id", b"inv-nan"),
                ("content-type", b"application/json"),
            ]
            await producer.send_and_wait("billing", b'{"order": NaN}', key=b"k", headers=binary)
        finally:
            await producer.stop()
        [run] = await settled_runs(client, "invoices", 1, timeout=60)
        assert run["status"] == "succeeded" and run["inputs"]["order"] == "B-64"
        letters = []
        for _ in range(100):
            letters = await cp.bus.dead_letters("billing")
            if letters:
                break
            await asyncio.sleep(0.1)
        assert [letter.value for letter in letters] == [b'{"order": NaN}']
        assert letters[0].reason.startswith("data:"), letters[0].reason
