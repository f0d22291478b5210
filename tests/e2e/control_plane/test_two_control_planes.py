"""Two control planes on one real Postgres share 200 runs of a 5-step workflow; no step is recorded twice."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from pathlib import Path

import asyncpg
import httpx

from tests.services import fresh_postgres_database

from .processes import ControlPlane, wait_for

FLOWS = Path(__file__).parent / "flows"


async def step_records(url: str) -> tuple[int, list[tuple[str, str]], Counter[str]]:
    conn = await asyncpg.connect(url)
    try:
        runs = await conn.fetch("SELECT status, count(*) FROM runs GROUP BY status")
        twice = await conn.fetch(
            "SELECT run_id, step FROM attempts WHERE status = 'succeeded' GROUP BY run_id, step HAVING count(*) > 1"
        )
        workers = await conn.fetch("SELECT worker, count(*) FROM attempts GROUP BY worker")
    finally:
        await conn.close()
    succeeded = sum(r["count"] for r in runs if r["status"] == "succeeded")
    return succeeded, [(r["run_id"], r["step"]) for r in twice], Counter({r["worker"]: r["count"] for r in workers})


def test_two_control_planes_share_the_work(tmp_path: Path) -> None:
    database = asyncio.run(fresh_postgres_database("e2e"))
    shutil.copytree(FLOWS, tmp_path / "flows")
    planes = [
        ControlPlane(
            tmp_path / f"cp{i}" / ".knflow",
            env={
                "KNFLOW_DATABASE_URL": database,
                "KNFLOW_WORKER_NAME": f"replica-{i}",
                "KNFLOW_POLL_INTERVAL": "0.2",
                "KNFLOW_LEASE_SECONDS": "5",
            },
        )
        for i in range(2)
    ]
    for plane in planes:
        plane.state_dir.parent.mkdir(parents=True)
        plane.start()
    try:
        assert planes[0].cli("deploy", str(tmp_path / "flows" / "chain.py")).returncode == 0
        with httpx.Client(timeout=30) as client:
            for index in range(200):
                reply = client.post(
                    f"{planes[index % 2].url}/v1/runs", json={"workflow": "chain", "inputs": {"start": index}}
                )
                assert reply.status_code == 201, reply.text

        def all_finished() -> bool:
            running = httpx.get(f"{planes[0].url}/v1/runs", params={"status": "running", "limit": 1}).json()["runs"]
            return not running

        wait_for(all_finished, 180, "200 runs", interval=0.5)
        succeeded, twice, workers = asyncio.run(step_records(database.replace("postgresql://", "postgres://")))
        assert succeeded == 200
        assert twice == []
        assert set(workers) == {"replica-0", "replica-1"}
        assert sum(workers.values()) == 1000
    finally:
        for plane in planes:
            plane.stop()
