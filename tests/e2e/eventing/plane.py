"""An in-process control plane with its API on an ASGI transport, for the eventing tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from knflow._loader import load_file
from knflow_control_plane.bootstrap import ControlPlane, build
from knflow_control_plane.entrypoints.api import create_app
from knflow_control_plane.settings import Settings

FLOWS = Path(__file__).parent / "flows"


@asynccontextmanager
async def running_plane(state: Path, **settings: Any) -> AsyncIterator[tuple[ControlPlane, httpx.AsyncClient]]:
    """A started control plane with ``flows/shop.py`` deployed, and a client of its API."""
    config = Settings(state_dir=state, poll_interval=0.2, idle_timeout=120.0, **settings)
    cp = build(config)
    await cp.start()
    try:
        project = load_file(FLOWS / "shop.py")
        for spec in project.workflows.values():
            await cp.workflows.register(spec, project.files)
            assert (await cp.workflows.deploy(spec.name))["status"] == "ready"
        await cp.consumer.reload()
        app = create_app(config, control_plane=cp)
        app.state.control_plane = cp  # the ASGI transport runs no lifespan
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cp") as client:
            yield cp, client
    finally:
        await cp.stop()


async def runs_of(client: httpx.AsyncClient, workflow: str) -> list[dict[str, Any]]:
    """Every run of ``workflow``, all pages."""
    runs: list[dict[str, Any]] = []
    params: dict[str, Any] = {"workflow": workflow, "limit": 500}
    while True:
        page = (await client.get("/v1/runs", params=params)).json()
        runs.extend(page["runs"])
        if not page["next_cursor"]:
            return runs
        params["cursor"] = page["next_cursor"]


async def settled_runs(
    client: httpx.AsyncClient, workflow: str, count: int, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """The workflow's runs once there are ``count`` of them, all finished (then a moment more for extras)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        runs = await runs_of(client, workflow)
        if len(runs) >= count and all(run["status"] != "running" for run in runs):
            await asyncio.sleep(0.3)  # a duplicate run would show up now
            return await runs_of(client, workflow)
        await asyncio.sleep(0.05)
    runs = await runs_of(client, workflow)
    statuses = sorted({run["status"] for run in runs})
    raise AssertionError(f"{workflow}: wanted {count} finished runs, have {len(runs)} ({statuses})")
