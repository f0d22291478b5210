"""Concurrent invocations: logs never mix, the concurrency limit holds, a ce-id never runs twice."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from tests.e2e.runtime.runtime_support import decode, invoke, invoke_request, new_run

from knflow.wire import SUCCEEDED


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_interleaved_logs_of_20_concurrent_invocations_do_not_mix(
    client: httpx.AsyncClient, sync_url: str, async_url: str, kind: str
) -> None:
    url = sync_url if kind == "sync" else async_url
    tags = [f"<{kind}-{index:02d}>" for index in range(20)]
    results = await asyncio.gather(
        *(invoke(client, url, {"op": "chatty", "tag": tag, "seconds": 0.01, "lines": 5}) for tag in tags)
    )
    for tag, (event_type, data) in zip(tags, results, strict=True):
        assert event_type == SUCCEEDED
        logs = data["logs"]
        assert set(re.findall(r"<\w+-\d\d>", logs)) == {tag}, logs
        assert [line for line in logs.splitlines() if "print" in line] == [f"{tag} print {i}" for i in range(5)]
        assert [line.split(": ", 1)[1] for line in logs.splitlines() if " log " in line] == [
            f"{tag} log {i}" for i in range(5)
        ]
        if kind == "async":
            assert f"{tag} from a thread" in logs
    # They did run at the same time (the default concurrency is 16).
    assert max(data["outputs"]["max_active"] for _, data in results) > 1


async def test_concurrency_limit_is_respected_and_excess_waits(client: httpx.AsyncClient, limited_url: str) -> None:
    started = time.monotonic()
    results = await asyncio.gather(
        *(invoke(client, limited_url, {"op": "probe", "seconds": 0.3, "tag": str(i)}) for i in range(6))
    )
    elapsed = time.monotonic() - started
    assert all(event_type == SUCCEEDED for event_type, _ in results)
    assert max(data["outputs"]["max_active"] for _, data in results) == 2
    assert elapsed >= 0.85  # three waves of two


async def test_a_repeated_invoke_id_returns_the_cached_reply(client: httpx.AsyncClient, sync_url: str) -> None:
    run = new_run()
    headers, body = invoke_request({"op": "sleep"}, run_id=run)
    first = await client.post(sync_url + "/", headers=headers, content=body)
    again = await client.post(sync_url + "/", headers=headers, content=body)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["ce-time"] == first.headers["ce-time"]  # the same event, not a new run
    runs = decode(first.headers, first.content)[1]["outputs"]["runs"]
    _, after = await invoke(client, sync_url, {"op": "sleep"}, run_id=run, attempt=2)
    assert after["outputs"]["runs"] == runs + 1


async def test_a_repeated_invoke_id_in_flight_is_awaited_not_run_twice(
    client: httpx.AsyncClient, async_url: str
) -> None:
    headers, body = invoke_request({"op": "sleep", "seconds": 0.3})
    replies = await asyncio.gather(*(client.post(async_url + "/", headers=headers, content=body) for _ in range(3)))
    assert len({reply.content for reply in replies}) == 1
    runs = decode(replies[0].headers, replies[0].content)[1]["outputs"]["runs"]
    _, after = await invoke(client, async_url, {"op": "sleep"})
    assert after["outputs"]["runs"] == runs + 1
