"""Approvals on a control plane, through the real ``knflow`` command and a real ``knflow dev``: a run
waits at its approval step (status ``waiting``, no attempt, nothing claimed) until ``knflow approve`` lets
it go on or ``knflow reject`` fails it, recording who decided, when and why; a decision on a step not
waiting is a 409, an unknown step a 404; a timeout fails the step once its stored deadline passes, also
across a restart of ``knflow dev``."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .processes import BIN, ControlPlane, wait_for

CODE = """
from knflow import action, approval, workflow


@action
def prepare(order: str) -> dict:
    return {"order": order}


@action
def ship(order: str) -> str:
    return f"shipped {order}"


@workflow
def checkout(order: str):
    placed = prepare(order=order)
    approval("Ship it?", name="ok")
    return ship(order=placed["order"])


@workflow
def hurry(order: str):
    approval("Quick?", timeout="3s", name="ok")
    return ship(order=order)
"""


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path / ".knflow").start()
    yield cp
    cp.stop()


def ok_json(cp: ControlPlane, *args: str) -> Any:
    done = cp.cli(*args, "--json")
    assert done.returncode == 0, f"knflow {' '.join(args)}: {done.stdout}{done.stderr}"
    return json.loads(done.stdout)


def get(cp: ControlPlane, run_id: str) -> dict[str, Any]:
    reply = httpx.get(f"{cp.url}/v1/runs/{run_id}", timeout=30)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in run["steps"]}


def waiting(cp: ControlPlane, workflow: str, order: str) -> str:
    """A new run of ``workflow``, once it waits at its approval."""
    run_id = str(ok_json(cp, "run", workflow, "-i", f"order={order}", "--no-wait")["id"])
    wait_for(lambda: steps(get(cp, run_id))["ok"]["status"] == "waiting", 60, "the approval to wait")
    return run_id


def finished(cp: ControlPlane, run_id: str) -> dict[str, Any]:
    return dict(wait_for(lambda: (r := get(cp, run_id))["status"] != "running" and r, 60, "the run to end"))


def deploy(cp: ControlPlane, folder: Path) -> None:
    (folder / "shop.py").write_text(CODE)
    deployed = ok_json(cp, "deploy", "shop.py")["deployments"]
    assert {d["status"] for d in deployed} == {"ready"}, deployed


def test_approve_lets_the_run_go_on_and_reject_fails_it(plane: ControlPlane, tmp_path: Path) -> None:
    deploy(plane, tmp_path)
    run_id = waiting(plane, "checkout", "A1")
    run = get(plane, run_id)
    assert run["status"] == "running"
    held = steps(run)
    assert held["ok"]["attempts"] == [] and held["ship"]["status"] == "pending", held
    assert held["ok"]["wait"] == {"kind": "approval", "prompt": "Ship it?", "timeout": None}
    assert held["ok"]["wake_at"] is None and held["ship"]["wait"] is None
    shown = plane.cli("get", run_id)
    assert shown.returncode == 0, shown.stderr
    assert "step ok waits for approval: Ship it?" in shown.stdout, shown.stdout
    assert f"knflow approve {run_id} ok" in shown.stdout and f"knflow reject {run_id} ok" in shown.stdout
    told = f"run {run_id} checkout waits for approval at step ok: Ship it? (knflow approve {run_id} ok)"
    wait_for(lambda: told in plane.log(), 30, "knflow dev to tell the person watching it")
    approved = plane.cli("approve", run_id, "ok", "--comment", "looks good")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert f"run {run_id}: step ok approved" in approved.stdout
    done = finished(plane, run_id)
    assert done["status"] == "succeeded" and done["result"] == "shipped A1", done
    decision = steps(done)["ok"]
    assert decision["status"] == "succeeded"
    assert decision["outputs"]["approved"] is True
    assert (decision["outputs"]["by"], decision["outputs"]["comment"]) == ("local", "looks good")
    assert isinstance(decision["outputs"]["decided_at"], float)

    again = plane.cli("approve", run_id, "ok")  # decided already: a 409, one line
    assert again.returncode != 0 and "not waiting for a decision: it is succeeded" in again.stderr, again.stderr
    assert "Traceback" not in again.stderr and len(again.stderr.strip().splitlines()) == 1, again.stderr

    refused = waiting(plane, "checkout", "B2")
    ghost = httpx.post(f"{plane.url}/v1/runs/{refused}/steps/ghost/approve", json={}, timeout=30)
    assert ghost.status_code == 404 and ghost.json()["field"] == "step", ghost.text
    nobody = httpx.post(f"{plane.url}/v1/runs/0123456789abcdef/steps/ok/reject", timeout=30)
    assert nobody.status_code == 404 and nobody.json()["field"] == "run_id", nobody.text
    early = httpx.post(f"{plane.url}/v1/runs/{refused}/steps/ship/approve", timeout=30)
    assert early.status_code == 409 and "is not an approval" in early.json()["detail"], early.text
    rejected = plane.cli("reject", refused, "ok", "-m", "no stock")
    assert rejected.returncode == 0, rejected.stdout + rejected.stderr
    failed = finished(plane, refused)
    assert failed["status"] == "failed", failed
    assert failed["error"]["type"] == "ApprovalRejected" and failed["error"]["step"] == "ok"
    assert failed["error"]["message"] == "approval 'ok' rejected by local: no stock"
    assert steps(failed)["ship"]["status"] == "skipped"
    shown = plane.cli("get", refused)
    assert "approval 'ok' rejected by local: no stock" in shown.stdout + shown.stderr, shown.stdout


def test_a_timeout_fails_the_approval_also_across_a_restart(plane: ControlPlane, tmp_path: Path) -> None:
    deploy(plane, tmp_path)
    timed = waiting(plane, "hurry", "C3")
    failed = finished(plane, timed)
    assert failed["status"] == "failed" and failed["error"]["type"] == "ApprovalTimeout", failed
    assert failed["error"]["message"] == "approval 'ok' had no decision within 3 s"

    survivor = waiting(plane, "hurry", "D4")
    assert steps(get(plane, survivor))["ok"]["wake_at"] is not None  # the deadline, stored
    plane.kill()  # the deadline is stored: the plane that comes back fires it
    back = ControlPlane(plane.state_dir, port=plane.port).start()
    try:
        ended = finished(back, survivor)
        assert ended["status"] == "failed" and ended["error"]["type"] == "ApprovalTimeout", ended
        late = httpx.post(f"{back.url}/v1/runs/{survivor}/steps/ok/approve", timeout=30)
        assert late.status_code == 409, late.text
    finally:
        back.stop()


def test_knflow_run_shows_the_wait_and_its_end(plane: ControlPlane, tmp_path: Path) -> None:
    deploy(plane, tmp_path)
    shown = tmp_path / "run.out"
    with shown.open("w") as out:
        watching = subprocess.Popen(
            [str(BIN / "knflow"), "run", "checkout", "-i", "order=E5", "--url", plane.url],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env={**os.environ, "COLUMNS": "100"},
        )
        try:
            wait_for(lambda: "waiting  ok" in shown.read_text(), 60, "knflow run to show the wait")
            run_id = shown.read_text().split()[1]  # "run ID of checkout (VERSION)"
            approved = httpx.post(f"{plane.url}/v1/runs/{run_id}/steps/ok/approve", json={}, timeout=30)
            assert approved.status_code == 200, approved.text
            assert watching.wait(60) == 0, shown.read_text()
        finally:
            if watching.poll() is None:
                watching.kill()
    lines = shown.read_text()
    assert "⏸ waiting  ok" in lines and "✓ succeeded  ok" in lines and "shipped E5" in lines, lines
