"""The chaos workload: CloudEvents (fan-out/in, a map), HTTP hook requests (a chain with a flaky step) and a cron
ticker, each operation recorded in the history; an event not accepted is sent again with the same id."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from .history import History, Sent


def expected_result(workflow: str, inputs: dict[str, Any]) -> object:
    """The result each workflow of ``flows/chaos_flows.py`` must produce for ``inputs``."""
    if workflow == "chain":
        return (int(inputs.get("start", 0)) + 1) * 2 + 1
    if workflow == "fan":
        return 4 * int(inputs.get("x", 0)) + 6
    if workflow == "spread":
        return [int(v) + 1 for v in inputs.get("values", [])]
    if workflow == "ticker":
        return int(inputs.get("value", 0)) + 1
    return None


Urls = Callable[[], list[str]]


class Workload:
    """Sends triggers to whichever replicas are up until ``stop`` is set."""

    def __init__(self, history: History, urls: Urls, markers: Path, stop: asyncio.Event) -> None:
        self.history, self.urls, self.markers, self.stop = history, urls, markers, stop
        self.counter = itertools.count()

    def _url(self) -> str | None:
        urls = self.urls()
        return random.choice(urls) if urls else None

    async def events(self, client: httpx.AsyncClient, workflow: str = "fan") -> None:
        """One fan-out/in run (or map run: ``spread``) per CloudEvent, each sent until a replica accepts it
        (same id every time)."""
        while not self.stop.is_set():
            n = next(self.counter)
            inputs: dict[str, Any] = {"delay": random.choice([0.0, 0.2, 0.5, 2.0]), "marker": str(self.markers)}
            inputs.update({"x": n} if workflow == "fan" else {"values": [n * 10 + i for i in range(6)]})
            sent = Sent("event", f"chaos-{uuid.uuid4().hex[:12]}", workflow, inputs, time.time())
            self.history.sent.append(sent)
            while not sent.accepted and sent.tries < 60:
                sent.tries += 1
                sent.accepted = await self._post_event(client, sent)
                if not sent.accepted:
                    await asyncio.sleep(0.5)
            await asyncio.sleep(random.uniform(0.1, 0.6))

    async def _post_event(self, client: httpx.AsyncClient, sent: Sent) -> bool:
        url = self._url()
        if url is None:
            return False
        headers = {
            "ce-specversion": "1.0",
            "ce-id": sent.key,
            "ce-source": "/chaos",
            "ce-type": "dev.knflow.chaos.fan" if sent.workflow == "fan" else "dev.knflow.chaos.map",
            "content-type": "application/json",
        }
        try:
            reply = await client.post(f"{url}/v1/events", headers=headers, json=sent.inputs)
        except httpx.HTTPError:
            return False
        return reply.status_code in (200, 202)

    async def hooks(self, client: httpx.AsyncClient) -> None:
        """Chain runs through the HTTP trigger; a request that fails is not sent again (it is its own event)."""
        while not self.stop.is_set():
            n = next(self.counter)
            inputs = {"start": n, "delay": random.choice([0.0, 0.3]), "marker": str(self.markers)}
            sent = Sent("http", f"hook-{n}", "chain", inputs, time.time(), tries=1)
            self.history.sent.append(sent)
            url = self._url()
            if url is None:
                sent.tries = 0
                await asyncio.sleep(0.5)
                continue
            try:
                reply = await client.post(f"{url}/hooks/chaos-chain", json=inputs, timeout=70)
                sent.run_id = reply.headers.get("x-knflow-run-id")
                sent.accepted = sent.run_id is not None
            except httpx.HTTPError:
                await asyncio.sleep(0.5)

    async def run(self) -> None:
        """Two event senders, a map run sender and two hook callers at once."""
        async with httpx.AsyncClient(timeout=10) as client:
            await asyncio.gather(
                self.events(client),
                self.events(client),
                self.events(client, "spread"),
                self.hooks(client),
                self.hooks(client),
            )
