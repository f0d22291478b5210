"""The chaos workload: CloudEvents (fan-out/in, a map, orders that wait for their payment event), HTTP hook
requests (a chain with a flaky step) and a cron ticker, each operation recorded in the history; an event
not accepted is sent again with the same id."""

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
    if workflow == "waiter":
        return int(inputs.get("x", 0)) + 2
    return None


Urls = Callable[[], list[str]]
#: the CloudEvent type that starts each event-triggered workflow
TYPES = {"fan": "dev.knflow.chaos.fan", "spread": "dev.knflow.chaos.map", "waiter": "dev.knflow.chaos.order"}


class Workload:
    """Sends triggers to whichever replicas are up until ``stop`` is set."""

    def __init__(self, history: History, urls: Urls, markers: Path, stop: asyncio.Event) -> None:
        self.history, self.urls, self.markers, self.stop = history, urls, markers, stop
        self.counter = itertools.count()

    def _url(self) -> str | None:
        urls = self.urls()
        return random.choice(urls) if urls else None

    async def events(self, client: httpx.AsyncClient, workflow: str = "fan") -> None:
        """One fan-out/in run (or map run: ``spread``; or an order waiting for its payment: ``waiter``) per
        CloudEvent, each sent until a replica accepts it (same id every time)."""
        while not self.stop.is_set():
            n = next(self.counter)
            inputs: dict[str, Any] = {"delay": random.choice([0.0, 0.2, 0.5, 2.0]), "marker": str(self.markers)}
            inputs.update({"values": [n * 10 + i for i in range(6)]} if workflow == "spread" else {"x": n})
            if workflow == "waiter":
                inputs["order"] = f"order-{n}"
            sent = Sent("event", f"chaos-{uuid.uuid4().hex[:12]}", workflow, inputs, time.time())
            self.history.sent.append(sent)
            while not sent.accepted and sent.tries < 60:
                sent.tries += 1
                sent.accepted = await self._post_event(client, sent)
                if not sent.accepted:
                    await asyncio.sleep(0.5)
            await asyncio.sleep(random.uniform(0.1, 0.6))

    async def payments(self, client: httpx.AsyncClient) -> None:
        """Pay each order whose run waits at ``paid``, a random moment after it is seen waiting (faults hit
        waiting runs): the same payment id each time, sent again while the step still waits (an event that
        comes before the wait is not kept), also after the stop until no order runs (or a minute)."""
        seen: dict[str, float] = {}
        end = float("inf")
        while time.time() < end:
            if self.stop.is_set() and end == float("inf"):
                end = time.time() + 60
            running, waiting = await self._waiting_orders(client)
            if self.stop.is_set() and running == 0:
                return
            for order in waiting:
                if time.time() >= seen.setdefault(order, time.time() + random.uniform(0.0, 3.0)):
                    payment = Sent("payment", f"pay-{order}", "waiter", {"order": order}, time.time())
                    await self._post_event(client, payment, "dev.knflow.chaos.paid")
            await asyncio.sleep(0.5)

    async def _waiting_orders(self, client: httpx.AsyncClient) -> tuple[int, list[str]]:
        """How many order runs are running (-1: unknown), and the orders whose run waits at ``paid``."""
        url = self._url()
        if url is None:
            return -1, []
        params: dict[str, str | int] = {"workflow": "waiter", "status": "running", "limit": 200}
        try:
            runs = (await client.get(f"{url}/v1/runs", params=params)).json()["runs"]
            return len(runs), [r["inputs"]["order"] for r in runs if "paid" in r.get("waiting", [])]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return -1, []

    async def _post_event(self, client: httpx.AsyncClient, sent: Sent, type_: str | None = None) -> bool:
        url = self._url()
        if url is None:
            return False
        headers = {
            "ce-specversion": "1.0",
            "ce-id": sent.key,
            "ce-source": "/chaos",
            "ce-type": type_ or TYPES[sent.workflow],
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
        """Two event senders, a map run sender, an order sender and its payer, and two hook callers at once."""
        async with httpx.AsyncClient(timeout=10) as client:
            await asyncio.gather(
                self.events(client),
                self.events(client),
                self.events(client, "spread"),
                self.events(client, "waiter"),
                self.payments(client),
                self.hooks(client),
                self.hooks(client),
            )
