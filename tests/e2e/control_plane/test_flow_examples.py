"""The examples of docs/sdk.md's timers, events and approvals, run as their docstrings say, through the
real ``knflow`` command and a real ``knflow dev``: ``examples/payments.py`` waits for a payment CloudEvent
posted to ``/v1/events`` (resumed once, also after ``knflow dev`` was killed while it waited; an event
posted before the run waits, or for another order, resumes nothing), ``examples/refunds.py`` waits for
``knflow approve``, ``examples/reminders.py`` sleeps."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .processes import ControlPlane, wait_for

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path / ".knflow").start()
    yield cp
    cp.stop()


def ok_json(cp: ControlPlane, *args: str) -> Any:
    done = cp.cli(*args, "--json")
    assert done.returncode == 0, f"knflow {' '.join(args)}: {done.stdout}{done.stderr}"
    return json.loads(done.stdout)


def deploy(cp: ControlPlane, example: str) -> None:
    shutil.copy(EXAMPLES / example, cp.state_dir.parent / example)
    deployed = ok_json(cp, "deploy", example)["deployments"]
    assert {d["status"] for d in deployed} == {"ready"}, deployed


def steps(cp: ControlPlane, run_id: str) -> dict[str, dict[str, Any]]:
    reply = httpx.get(f"{cp.url}/v1/runs/{run_id}", timeout=30)
    assert reply.status_code == 200, reply.text
    return {step["name"]: step for step in reply.json()["steps"]}


def waiting_at(cp: ControlPlane, step: str, *args: str) -> str:
    """A new run (``knflow run ARGS --no-wait``), once ``step`` waits."""
    run_id = str(ok_json(cp, "run", *args, "--no-wait")["id"])
    wait_for(lambda: steps(cp, run_id)[step]["status"] == "waiting", 60, f"step {step} to wait")
    return run_id


def watched(cp: ControlPlane, run_id: str) -> dict[str, Any]:
    """``knflow get RUN --watch``: the run once it ended."""
    done = cp.cli("get", run_id, "--watch", "--json", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def pay(cp: ControlPlane, order: str, event_id: str) -> None:
    """The docstring's ``curl``: a payment CloudEvent in binary mode."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": "/payments",
        "ce-type": "com.shop.paid",
        "content-type": "application/json",
    }
    body = {"order": {"id": order}, "amount": 99.5}
    reply = httpx.post(f"{cp.url}/v1/events", headers=headers, json=body, timeout=30)
    assert reply.status_code == 202, reply.text


def test_payments_waits_for_its_event_and_resumes_once(plane: ControlPlane) -> None:
    deploy(plane, "payments.py")
    pay(plane, "A-42", "too-early")  # before any run waits: not kept
    run_id = waiting_at(plane, "paid", "checkout", "-i", "order=A-42")
    other = waiting_at(plane, "paid", "checkout", "-i", "order=B-7")
    held = steps(plane, run_id)
    assert held["paid"]["attempts"] == [] and held["ship"]["status"] == "pending", held
    assert held["paid"]["wait"] == {"kind": "event", "type": "com.shop.paid", "source": None, "timeout": 3600.0}
    shown = plane.cli("get", run_id)
    assert "step paid waits for event com.shop.paid" in shown.stdout, shown.stdout + shown.stderr
    told = 'waits at step paid for event com.shop.paid where order.id = "A-42"'
    wait_for(lambda: told in plane.log(), 30, "knflow dev to say what the run waits for")
    pay(plane, "A-42", "pay-1")
    pay(plane, "A-42", "pay-1")  # delivered twice: resumes once
    run = watched(plane, run_id)
    assert run["status"] == "succeeded" and run["result"] == "shipped A-42 (paid 99.5)", run
    ended = {step["name"]: step for step in run["steps"]}
    assert ended["paid"]["outputs"]["event"]["id"] == "pay-1" and ended["paid"]["attempts"] == []
    assert [a["status"] for a in ended["ship"]["attempts"]] == ["succeeded"]
    assert steps(plane, other)["paid"]["status"] == "waiting"  # another order's payment is still awaited


def test_a_run_killed_while_waiting_for_its_event_resumes_once_after_a_restart(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path / ".knflow").start()
    try:
        deploy(plane, "payments.py")
        run_id = waiting_at(plane, "paid", "checkout", "-i", "order=K-1")
        plane.kill()  # while it waits: its key is stored, nothing holds it
    finally:
        plane.stop()
    back = ControlPlane(plane.state_dir, port=plane.port).start()
    try:
        assert steps(back, run_id)["paid"]["status"] == "waiting"
        pay(back, "K-1", "pay-k")
        run = watched(back, run_id)
        assert run["status"] == "succeeded" and run["result"] == "shipped K-1 (paid 99.5)", run
        ended = {step["name"]: step for step in run["steps"]}
        assert [a["status"] for a in ended["ship"]["attempts"]] == ["succeeded"]  # resumed once
        assert [a["status"] for a in ended["place"]["attempts"]] == ["succeeded"]
    finally:
        back.stop()


def test_refunds_waits_for_knflow_approve(plane: ControlPlane) -> None:
    deploy(plane, "refunds.py")
    run_id = waiting_at(plane, "ok", "refund", "-i", "order=A-42", "-i", "amount=250")
    approved = plane.cli("approve", run_id, "ok", "--comment", "customer called")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    run = watched(plane, run_id)
    assert run["status"] == "succeeded" and run["result"] == "refunded 250.0 on A-42 (local)", run
    decision = {step["name"]: step for step in run["steps"]}["ok"]["outputs"]
    assert (decision["approved"], decision["by"], decision["comment"]) == (True, "local", "customer called")


def test_reminders_sleeps_then_goes_on(plane: ControlPlane) -> None:
    deploy(plane, "reminders.py")
    run_id = waiting_at(plane, "pause", "onboarding", "-i", "user=ada")
    assert steps(plane, run_id)["pause"]["attempts"] == []
    run = watched(plane, run_id)
    assert run["status"] == "succeeded" and run["result"] == "reminded ada", run
    pause = {step["name"]: step for step in run["steps"]}["pause"]
    assert pause["status"] == "succeeded" and isinstance(pause["outputs"]["woke_at"], float)
