"""Durable sleep on a control plane, through the real ``knflow`` command and a real ``knflow dev``: a
``sleep`` step waits holding no process (status ``waiting``, no attempt, its wake-up time stored), and the
run resumes once after ``knflow dev`` is killed while it sleeps and started again."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from .processes import ControlPlane, wait_for

CODE = """
from knflow import action, sleep, workflow


@action
def before(order: str) -> dict:
    return {"order": order}


@action
def after(order: str) -> str:
    return f"woke for {order}"


@workflow
def napping(order: str):
    placed = before(order=order)
    sleep("4s", name="nap")
    return after(order=placed["order"])
"""


def steps(cp: ControlPlane, run_id: str) -> dict[str, dict[str, Any]]:
    reply = httpx.get(f"{cp.url}/v1/runs/{run_id}", timeout=30)
    assert reply.status_code == 200, reply.text
    return {step["name"]: step for step in reply.json()["steps"]}


def test_a_sleeping_run_survives_a_kill_and_resumes_once(tmp_path: Path) -> None:
    (tmp_path / "napping.py").write_text(CODE)
    plane = ControlPlane(tmp_path / ".knflow").start()
    try:
        deployed = plane.cli("deploy", "napping.py", "--json")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        started = plane.cli("run", "napping", "-i", "order=A1", "--no-wait", "--json")
        assert started.returncode == 0, started.stdout + started.stderr
        run_id = json.loads(started.stdout)["id"]
        wait_for(lambda: steps(plane, run_id)["nap"]["status"] == "waiting", 60, "the sleep to start")
        asleep = steps(plane, run_id)
        assert asleep["nap"]["attempts"] == [] and asleep["after"]["status"] == "pending", asleep
        plane.kill()  # while it sleeps: its wake-up time is stored, nothing holds it
    finally:
        plane.stop()
    back = ControlPlane(plane.state_dir, port=plane.port).start()
    try:
        done = back.cli("get", run_id, "--watch", "--json", timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        run = json.loads(done.stdout)
        assert run["status"] == "succeeded" and run["result"] == "woke for A1", run
        ended = {step["name"]: step for step in run["steps"]}
        assert ended["nap"]["status"] == "succeeded" and ended["nap"]["attempts"] == []
        slept_from = datetime.fromisoformat(ended["nap"]["started_at"].replace("Z", "+00:00")).timestamp()
        assert ended["nap"]["outputs"]["woke_at"] >= slept_from + 4.0  # the whole sleep, across the restart
        assert [a["status"] for a in ended["after"]["attempts"]] == ["succeeded"]  # resumed once
        assert [a["status"] for a in ended["before"]["attempts"]] == ["succeeded"]
    finally:
        back.stop()
