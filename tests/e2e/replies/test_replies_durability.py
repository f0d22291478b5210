"""Async reply mode across failures and replicas: a callback lost with its control plane (the lease
held to the deadline runs out and the step is retried), and a callback landing on another replica
than the one waiting for it (recorded there once; the waiting one stops without recording again)."""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime
from pathlib import Path

import asyncpg

from tests.e2e.control_plane.processes import ControlPlane, wait_for
from tests.services import fresh_postgres_database

from .test_replies import ENV, FLOWS, attempts, finished, start


def test_lost_callback_is_retried_when_the_held_lease_runs_out(tmp_path: Path) -> None:
    cp = ControlPlane(tmp_path / ".knflow", env=ENV).start()
    restarted = None
    try:
        shutil.copytree(FLOWS, tmp_path / "flows")
        assert cp.cli("deploy", str(tmp_path / "flows" / "long.py")).returncode == 0
        marker = tmp_path / "marker"
        run_id = start(cp, value=4, delay=1.5, marker=str(marker))
        wait_for(marker.exists, 30, "the slow step to start")
        cp.kill()  # its functions die with it (PR_SET_PDEATHSIG): the callback never comes
        marker.unlink()

        restarted = ControlPlane(cp.state_dir, env=cp.env, port=cp.port).start()
        # The lease was held to the deadline (8 s) + grace + one lease, not renewed every few seconds:
        # only then is attempt 1 recorded lost, and attempt 2 (reply mode again) runs.
        run = finished(restarted, run_id, timeout=90)
        assert run["status"] == "succeeded" and run["result"] == 9
        slow = attempts(run, "slow")
        assert [a["status"] for a in slow] == ["lost", "succeeded"]
        # Recorded lost only past its deadline (started + 8 s timeout): the held lease outlived the restart.
        held = at(slow[0]["finished_at"]) - at(slow[0]["started_at"])
        assert held >= 8, slow[0]
        assert f"recorded the callback of attempt {run_id}/slow/2" in restarted.log()
    finally:
        for plane in (cp, restarted):
            if plane is not None:
                plane.stop()


def at(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


async def _slow_attempts(url: str, run_id: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://"))
    try:
        rows = await conn.fetch("SELECT status, worker FROM attempts WHERE run_id = $1 AND step = 'slow'", run_id)
    finally:
        await conn.close()
    return [(r["status"], r["worker"]) for r in rows]


def test_callback_recorded_by_another_replica(tmp_path: Path) -> None:
    database = asyncio.run(fresh_postgres_database("replies"))
    receiver = ControlPlane(tmp_path / "b" / ".knflow", env={**ENV, "KNFLOW_DATABASE_URL": database})
    # The invoking replica hands out the other replica's URL: every callback lands there.
    invoker = ControlPlane(
        tmp_path / "a" / ".knflow",
        env={**ENV, "KNFLOW_DATABASE_URL": database, "KNFLOW_PUBLIC_URL": receiver.url, "KNFLOW_WORKER_NAME": "a"},
    )
    receiver.env["KNFLOW_WORKER_NAME"] = "b"
    for plane in (receiver, invoker):
        plane.state_dir.parent.mkdir(parents=True)
        plane.start()
    try:
        shutil.copytree(FLOWS, tmp_path / "flows")
        assert invoker.cli("deploy", str(tmp_path / "flows" / "long.py")).returncode == 0
        run_id = start(invoker, value=30)
        run = finished(invoker, run_id, timeout=120)
        assert run["status"] == "succeeded" and run["result"] == 61
        assert asyncio.run(_slow_attempts(database, run_id)) == [("succeeded", "a")]  # invoked by a, once
        assert f"recorded the callback of attempt {run_id}/slow/1" in receiver.log()
        assert "recorded the callback" not in invoker.log()
    finally:
        for plane in (invoker, receiver):
            plane.stop()
