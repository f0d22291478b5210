"""On the in-process bus (the embedded stack) an accepted event is a stored run: ``POST /v1/events``
answers once the trigger consumer has handled its events, since that bus dies with the process (the chaos
run on SQLite once lost an event accepted 59 ms before a ``SIGKILL``: no run, no record)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from .plane import running_plane, runs_of

ORDER = {"ce-specversion": "1.0", "ce-source": "/shop/eu", "ce-type": "com.shop.order.created"}


async def test_an_event_is_accepted_only_once_its_run_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_plane(tmp_path) as (cp, client):
        entered, gate = asyncio.Event(), asyncio.Event()
        start = cp.workflows.start

        async def held_start(name: str, inputs: dict[str, Any], **kwargs: Any) -> Any:
            entered.set()
            await gate.wait()  # the run's creation, held
            return await start(name, inputs, **kwargs)

        monkeypatch.setattr(cp.workflows, "start", held_start)
        posting = asyncio.create_task(
            client.post("/v1/events", headers={**ORDER, "ce-id": "held-1"}, json={"order": "H-1", "region": "eu"})
        )
        await entered.wait()
        for _ in range(20):  # the request has every chance to answer, were it not waiting for the run
            await asyncio.sleep(0)
        assert not posting.done(), "accepted before its run was stored"
        gate.set()
        reply = await posting
        assert reply.status_code == 202, reply.text
        # answered: the runs are stored (both workflows whose triggers match it)
        assert sorted(r["workflow"] for r in await runs_of(client, "eu_orders")) == ["eu_orders"]
        assert [r["inputs"]["order"] for r in await runs_of(client, "all_shop_events")] == ["H-1"]


async def test_an_event_that_starts_no_run_is_still_answered(tmp_path: Path) -> None:
    async with running_plane(tmp_path) as (_cp, client):
        headers = {**ORDER, "ce-type": "com.nobody.listens", "ce-id": "lone-1"}
        reply = await client.post("/v1/events", headers=headers, json={"n": 1})
        assert reply.status_code == 202, reply.text
        batch = [
            {"specversion": "1.0", "id": f"b-{n}", "source": "/b", "type": "com.nobody.listens", "data": {"n": n}}
            for n in range(300)
        ]
        reply = await client.post(
            "/v1/events", json=batch, headers={"content-type": "application/cloudevents-batch+json"}
        )
        assert reply.status_code == 202, reply.text
        assert reply.json()["accepted"] == 300
