"""Child runs on two control planes sharing one real Postgres, one of them SIGKILLed mid-way and started
again: every parent ends with its result and exactly one child run per sub-workflow step (a crash never
starts a second child, and a child that ended on one replica is settled into its parent by the other's
poll or the restarted one's), and no step of any run is recorded as succeeding twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx

from tests.services import fresh_postgres_database

from .processes import ROOT, ControlPlane, wait_for

RUNS = 40


async def records(url: str) -> tuple[list[tuple[str, str]], Counter[tuple[str, str]], Counter[str]]:
    conn = await asyncpg.connect(url)
    try:
        twice = await conn.fetch(
            "SELECT run_id, step FROM attempts WHERE status = 'succeeded' GROUP BY run_id, step HAVING count(*) > 1"
        )
        children = await conn.fetch("SELECT parent_run_id, parent_step FROM runs WHERE parent_run_id IS NOT NULL")
        statuses = await conn.fetch("SELECT status, count(*) FROM runs GROUP BY status")
    finally:
        await conn.close()
    per_step = Counter((r["parent_run_id"], r["parent_step"]) for r in children)
    return [(r["run_id"], r["step"]) for r in twice], per_step, Counter({r["status"]: r["count"] for r in statuses})


def test_two_planes_and_a_crash_give_each_step_one_child_and_each_parent_its_result(tmp_path: Path) -> None:
    database = asyncio.run(fresh_postgres_database("e2e"))
    (tmp_path / "children.py").write_text((ROOT / "examples" / "children.py").read_text())
    env = {"KNFLOW_DATABASE_URL": database, "KNFLOW_POLL_INTERVAL": "0.2", "KNFLOW_LEASE_SECONDS": "3"}
    planes = [
        ControlPlane(tmp_path / f"cp{i}" / ".knflow", env={**env, "KNFLOW_WORKER_NAME": f"replica-{i}"})
        for i in range(2)
    ]
    for plane in planes:
        plane.state_dir.parent.mkdir(parents=True)
        plane.start()
    try:
        deployed = planes[0].cli("deploy", str(tmp_path / "children.py"))
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        started = []
        with httpx.Client(timeout=30) as client:
            for index in range(RUNS):
                inputs = {"title": f"t{index}", "cover": f"c{index}.png", "back": f"b{index}.png"}
                reply = client.post(f"{planes[index % 2].url}/v1/runs", json={"workflow": "album", "inputs": inputs})
                assert reply.status_code == 201, reply.text
                started.append((reply.json()["id"], index))
                if index == RUNS // 2:
                    planes[1].kill()  # children in flight on it: their leases expire, their ends are settled elsewhere
                    time.sleep(0.5)
                    planes[1].start()

        def all_finished() -> bool:
            going = httpx.get(f"{planes[0].url}/v1/runs", params={"status": "running", "limit": 1}, timeout=30)
            return not going.json()["runs"]

        wait_for(all_finished, 240, f"{RUNS} albums and their children", interval=0.5)
        for run_id, index in started:
            run = httpx.get(f"{planes[0].url}/v1/runs/{run_id}", timeout=30).json()
            expected = {"album": f"t{index}: c{index}@256.png, b{index}@64.png", "pages": 2}
            assert run["status"] == "succeeded" and run["result"] == expected, run
        twice, per_step, statuses = asyncio.run(records(database.replace("postgresql://", "postgres://")))
        assert twice == []
        assert len(per_step) == RUNS * 2 and set(per_step.values()) == {1}, per_step.most_common(3)
        assert statuses == Counter({"succeeded": RUNS * 3}), statuses
    finally:
        for plane in planes:
            plane.stop()
