"""Durability: the control plane or a function killed mid-run; the run still finishes, exactly once per step."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Any

import httpx

from .processes import ControlPlane, wait_for

FLOWS = Path(__file__).parent / "flows"


def deploy_chain(cp: ControlPlane, tmp: Path) -> None:
    project = tmp / "flows"
    shutil.copytree(FLOWS, project, dirs_exist_ok=True)
    deployed = cp.cli("deploy", str(project / "chain.py"))
    assert deployed.returncode == 0, deployed.stderr


def run_of(cp: ControlPlane, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] = httpx.get(f"{cp.url}/v1/runs/{run_id}", timeout=10).json()
    return run


def succeeded_attempts(run: dict[str, Any]) -> dict[str, int]:
    return {s["name"]: sum(a["status"] == "succeeded" for a in s["attempts"]) for s in run["steps"]}


def test_control_plane_killed_mid_dag_finishes_after_restart(control_plane: ControlPlane, tmp_path: Path) -> None:
    deploy_chain(control_plane, tmp_path)
    run_id = httpx.post(
        f"{control_plane.url}/v1/runs", json={"workflow": "chain", "inputs": {"delay": 0.4}}, timeout=10
    ).json()["id"]
    wait_for(lambda: succeeded_attempts(run_of(control_plane, run_id)).get("s1") == 1, 30, "step s1")
    control_plane.kill()

    restarted = ControlPlane(control_plane.state_dir, env=control_plane.env, port=control_plane.port).start()
    try:
        run = wait_for(lambda: (r := run_of(restarted, run_id))["status"] != "running" and r, 60, "the run")
        assert run["status"] == "succeeded" and run["result"] == 5
        assert succeeded_attempts(run) == {f"s{i}": 1 for i in range(5)}
    finally:
        restarted.stop()


def test_function_killed_mid_invocation_is_retried(control_plane: ControlPlane, tmp_path: Path) -> None:
    deploy_chain(control_plane, tmp_path)
    marker = tmp_path / "pid"
    run_id = httpx.post(
        f"{control_plane.url}/v1/runs",
        json={"workflow": "chain", "inputs": {"delay": 1.0, "marker": str(marker)}},
        timeout=10,
    ).json()["id"]
    pid = int(wait_for(lambda: marker.exists() and marker.read_text(), 30, "the pid of step s2"))
    os.kill(pid, signal.SIGKILL)

    run = wait_for(lambda: (r := run_of(control_plane, run_id))["status"] != "running" and r, 60, "the run")
    assert run["status"] == "succeeded" and run["result"] == 5
    assert succeeded_attempts(run) == {f"s{i}": 1 for i in range(5)}
    s2 = next(s for s in run["steps"] if s["name"] == "s2")
    assert [a["status"] for a in s2["attempts"]] == ["lost", "succeeded"]
