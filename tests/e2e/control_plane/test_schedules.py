"""Schedule triggers: two control planes on one Postgres, a cron ticking every second: one run per tick."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.services import fresh_postgres_database

from .processes import ControlPlane, wait_for

FLOWS = Path(__file__).parent / "flows"


def test_two_control_planes_fire_each_tick_exactly_once(tmp_path: Path) -> None:
    database = asyncio.run(fresh_postgres_database("ticks"))
    shutil.copytree(FLOWS, tmp_path / "flows")
    planes = [
        ControlPlane(
            tmp_path / f"cp{i}" / ".knflow", env={"KNFLOW_DATABASE_URL": database, "KNFLOW_WORKER_NAME": f"replica-{i}"}
        )
        for i in range(2)
    ]
    for plane in planes:
        plane.state_dir.parent.mkdir(parents=True)
        plane.start()
    try:
        assert planes[0].cli("deploy", str(tmp_path / "flows" / "ticker.py")).returncode == 0
        time.sleep(10)
        assert planes[1].cli("undeploy", "ticker").returncode == 0
        undeployed_at = time.time()
        time.sleep(1.5)  # a tick being fired while undeploying may still land; nothing after it

        def runs() -> list[dict[str, Any]]:
            page = httpx.get(f"{planes[0].url}/v1/runs", params={"workflow": "ticker", "limit": 100}).json()
            return list(page["runs"])

        listed = wait_for(lambda: (r := runs()) and all(x["status"] != "running" for x in r) and r, 30, "the runs")
        ticks = [str(run["trigger"]["tick"]) for run in listed]
        assert all(run["status"] == "succeeded" for run in listed)
        assert max(Counter(ticks).values()) == 1, "a tick started two runs"
        seconds = sorted(datetime.fromisoformat(t).timestamp() for t in ticks)
        # The deploy-to-undeploy window lasts 10 s plus however long the CLI takes on a loaded machine:
        # at least 8 ticks, and none after the undeploy returned (a tick being fired then may still land).
        assert len(seconds) >= 8
        assert seconds[-1] <= undeployed_at + 1.0, "a tick fired after the undeploy"
        assert all(b - a == 1.0 for a, b in itertools.pairwise(seconds)), "a tick was missed"
        assert all(run["trigger"]["kind"] == "schedule" for run in listed)
        assert {run["inputs"]["label"] for run in listed} == {"every second"}
    finally:
        for plane in planes:
            plane.stop()
