"""Fault injection: each fault waits for attempts in flight (read from the API), then strikes."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .history import Fence, History
from .planes import Plane, Service, function_pids


@dataclass
class Faults:
    """The faults of one run: which exist depends on the database (Postgres, Kafka and two replicas)."""

    history: History
    planes: list[Plane]
    markers: Path
    postgres: Service | None = None
    kafka: Service | None = None
    lease_seconds: float = 3.0

    def names(self) -> list[str]:
        """The faults this run injects, in rotation."""
        names = ["kill-control-plane", "kill-function"]
        if self.postgres is not None:
            names.append("restart-postgres")
        if self.kafka is not None:
            names.append("restart-kafka")
        if len(self.planes) > 1:
            names.append("pause-replica")
        return names

    async def run(self, stop: asyncio.Event) -> None:
        """Inject faults at random points until ``stop``, each once attempts are in flight."""
        names = self.names()
        for index in range(10**6):
            if await _wait(stop, random.uniform(3.0, 8.0)):
                return
            await self._in_flight(stop)
            if stop.is_set():
                return
            await getattr(self, names[index % len(names)].replace("-", "_"))()

    async def _in_flight(self, stop: asyncio.Event, patience: float = 5.0) -> None:
        """Wait (a bounded time) until some step attempt is running: faults are aimed at the lifecycle."""
        end = asyncio.get_running_loop().time() + patience
        while not stop.is_set() and asyncio.get_running_loop().time() < end:
            if function_pids(self.markers) or await self.running_attempts(None):
                return
            await asyncio.sleep(0.05)

    async def running_attempts(self, worker: str | None) -> list[str]:
        """Ids of the attempts running now (of ``worker`` if given), read from a replica that is up."""
        up = [p for p in self.planes if p.up]
        if not up:
            return []
        found: list[str] = []
        async with httpx.AsyncClient(base_url=up[0].url, timeout=5) as client:
            try:
                page = (await client.get("/v1/runs", params={"status": "running", "limit": 100})).json()
                for summary in page.get("runs", []):
                    run: dict[str, Any] = (await client.get(f"/v1/runs/{summary['id']}")).json()
                    found += [
                        a["id"]
                        for s in run.get("steps", [])
                        for a in s["attempts"]
                        if a["status"] == "running" and (worker is None or a["worker"] == worker)
                    ]
            except (httpx.HTTPError, ValueError):
                return []
        return found

    async def kill_control_plane(self) -> None:
        """SIGKILL one replica mid-lifecycle, restart it after a moment."""
        plane = random.choice([p for p in self.planes if p.up] or self.planes)
        plane.kill()
        self.history.fault("kill-control-plane", plane.name)
        await asyncio.sleep(random.uniform(0.2, 2.0))
        await asyncio.to_thread(plane.start)

    async def kill_function(self) -> None:
        """SIGKILL a function process while it runs an attempt."""
        pids = function_pids(self.markers)
        if not pids:
            return
        pid = random.choice(pids)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.history.fault("kill-function", str(pid))

    async def restart_postgres(self) -> None:
        """Restart the run's own Postgres (fast shutdown: connections cut) while attempts are in flight."""
        assert self.postgres is not None
        await asyncio.to_thread(self.postgres.run, "restart")
        self.history.fault("restart-postgres")

    async def restart_kafka(self) -> None:
        """Restart the run's own Kafka broker (its data kept)."""
        assert self.kafka is not None
        await asyncio.to_thread(self.kafka.run, "restart")
        self.history.fault("restart-kafka")

    async def pause_replica(self) -> None:
        """SIGSTOP a replica holding attempts past its lease, then SIGCONT: its late results must be refused."""
        paused = await self._pause_holding()
        if paused is None:
            return
        plane, running = paused
        self.history.fault("pause-replica", f"{plane.name} holding {len(running)}")
        await asyncio.sleep(self.lease_seconds * 2 + 3)
        held = await self.lost_attempts(running)  # expired while paused: a late result must change nothing
        plane.resume()
        self.history.fences.append(Fence(plane.name, held, self.history.last_fault_at, time.time()))

    async def _pause_holding(self, tries: int = 40) -> tuple[Plane, list[str]] | None:
        """SIGSTOP a replica at a moment it holds running attempts (read from the other replica)."""
        for index in range(tries):
            candidates = [p for p in self.planes if p.up]
            if len(candidates) < 2:
                return None
            plane = candidates[index % len(candidates)]
            plane.pause()
            running = await self.running_attempts(plane.name)
            if running:
                return plane, running
            plane.resume()
            await asyncio.sleep(0.1)
        return None

    async def lost_attempts(self, attempts: list[str]) -> list[str]:
        """Those of ``attempts`` (ids ``run/step/n``) recorded lost, read from a replica that is up."""
        up = [p for p in self.planes if p.up]
        if not up:
            return []
        lost: list[str] = []
        async with httpx.AsyncClient(base_url=up[0].url, timeout=5) as client:
            for run_id in sorted({a.split("/")[0] for a in attempts}):
                try:
                    run = (await client.get(f"/v1/runs/{run_id}")).json()
                except (httpx.HTTPError, ValueError):
                    continue
                lost += [
                    a["id"]
                    for s in run.get("steps", [])
                    for a in s["attempts"]
                    if a["id"] in attempts and a["status"] == "lost"
                ]
        return lost


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True if it was."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
