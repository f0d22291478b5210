"""Two ``knflow dev`` replicas on one Postgres and the real Kafka broker: events posted the moment a deploy
returns, to either replica, each start their run (the chaos run's finding: 8 of 297 once started none), and
so do events in flight when a replica is killed."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

import httpx
import pytest

from knflow_eventing import RUNS_TOPIC, TRIGGERS_TOPIC, dlq_topic
from tests.e2e.control_plane.processes import ControlPlane as PlaneProcess
from tests.services import empty_kafka_topics, fresh_postgres_database, kafka_bootstrap

from .plane import FLOWS, runs_of

pytestmark = pytest.mark.kafka


@pytest.fixture
async def replica_env(request: pytest.FixtureRequest) -> dict[str, str]:
    await empty_kafka_topics([TRIGGERS_TOPIC, RUNS_TOPIC, dlq_topic(TRIGGERS_TOPIC)])
    return {
        "KNFLOW_EVENT_BUS": "kafka",
        "KNFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap(),
        "KNFLOW_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "KNFLOW_CONSUMER_GROUP": f"knflow-test-{request.node.name[:30]}-{uuid.uuid4().hex[:6]}",
        "KNFLOW_DATABASE_URL": await fresh_postgres_database("replica_triggers"),
        "KNFLOW_POLL_INTERVAL": "0.2",
    }


def replica(tmp_path: Path, name: str, env: dict[str, str]) -> PlaneProcess:
    (tmp_path / name).mkdir(exist_ok=True)
    return PlaneProcess(tmp_path / name / ".knflow", env={**env, "KNFLOW_WORKER_NAME": name})


def order(tag: str, n: int) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": f"{tag}-{n}",
        "ce-source": "/shop/eu",
        "ce-type": "com.shop.order.created",
    }


async def post_all(urls: list[str], tag: str, count: int, accepted: list[int]) -> None:
    """POST ``count`` events one by one, alternating replicas; record those answered 202."""
    async with httpx.AsyncClient(timeout=10) as client:
        for n in range(count):
            url = urls[n % len(urls)]
            try:
                reply = await client.post(
                    f"{url}/v1/events", headers=order(tag, n), json={"order": f"{tag}-{n}", "region": "eu"}
                )
            except httpx.HTTPError:
                continue
            if reply.status_code == 202:
                accepted.append(n)


async def orders_started(url: str, tag: str, want: int, timeout: float = 120.0) -> set[str]:
    """The orders of ``tag`` that have a run, once ``want`` have (or the timeout passed)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while True:
            found = {run["inputs"]["order"] for run in await runs_of(client, "eu_orders")}
            found = {o for o in found if o.startswith(f"{tag}-")}
            if len(found) >= want or loop.time() > end:
                return found
            await asyncio.sleep(0.2)


async def test_events_posted_the_moment_a_deploy_returns_start_their_runs_on_either_replica(
    tmp_path: Path, replica_env: dict[str, str]
) -> None:
    shutil.copytree(FLOWS, tmp_path / "flows")
    planes = [replica(tmp_path, "a", replica_env), replica(tmp_path, "b", replica_env)]
    try:
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in planes))
        deployed = await asyncio.to_thread(planes[0].cli, "deploy", str(tmp_path / "flows" / "shop.py"))
        assert deployed.returncode == 0, deployed.stderr
        accepted: list[int] = []
        await post_all([p.url for p in planes], "now", 60, accepted)
        assert len(accepted) == 60
        found = await orders_started(planes[1].url, "now", 60)
        missing = sorted({f"now-{n}" for n in accepted} - found)
        assert not missing, f"accepted without a run: {missing}"
    finally:
        for plane in planes:
            plane.stop()


async def test_events_in_flight_when_a_replica_is_killed_still_start_their_runs(
    tmp_path: Path, replica_env: dict[str, str]
) -> None:
    shutil.copytree(FLOWS, tmp_path / "flows")
    planes = [replica(tmp_path, "a", replica_env), replica(tmp_path, "b", replica_env)]
    try:
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in planes))
        deployed = await asyncio.to_thread(planes[0].cli, "deploy", str(tmp_path / "flows" / "shop.py"))
        assert deployed.returncode == 0, deployed.stderr
        accepted: list[int] = []
        posting = asyncio.create_task(post_all([p.url for p in planes], "kill", 120, accepted))
        while len(accepted) < 30:
            await asyncio.sleep(0.01)
        planes[0].kill()  # mid-stream: some of its events consumed, not all acknowledged
        await asyncio.sleep(0.5)
        await asyncio.to_thread(planes[0].start)
        await posting
        found = await orders_started(planes[1].url, "kill", len(accepted), timeout=180)
        missing = sorted({f"kill-{n}" for n in accepted} - found)
        assert not missing, f"accepted without a run: {missing}"
    finally:
        for plane in planes:
            plane.stop()
