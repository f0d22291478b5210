"""Run concurrency keys and trigger priority on a real ``knflow dev``, through the real ``knflow`` command,
HTTP hook and REST API, with ``examples/releases.py`` (one release per environment at a time, each waiting
for an approval): runs of a busy key are ``queued`` with their place (REST ``queue``, ``knflow get``,
``knflow runs``), another key runs meanwhile, a hook's run (priority 10) goes before runs queued earlier
from the CLI, a cancelled queued run leaves the queue, and the next run starts when the one before ends."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from .processes import ROOT, ControlPlane, wait_for


@pytest.fixture
def plane(tmp_path: Path) -> Any:
    cp = ControlPlane(tmp_path / ".knflow").start()
    try:
        yield cp
    finally:
        cp.stop()


def ok_json(cp: ControlPlane, *args: str) -> Any:
    done = cp.cli(*args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def get(cp: ControlPlane, run_id: str) -> dict[str, Any]:
    reply = httpx.get(f"{cp.url}/v1/runs/{run_id}", timeout=30)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def at_approval(cp: ControlPlane, run_id: str) -> bool:
    return any(s["name"] == "go" and s["status"] == "waiting" for s in get(cp, run_id)["steps"])


def release(cp: ControlPlane, service: str, env: str) -> dict[str, Any]:
    return dict(ok_json(cp, "run", "release_train", "-i", f"service={service}", "-i", f"env={env}", "--no-wait"))


def test_releases_queue_per_environment_in_priority_order(plane: ControlPlane, tmp_path: Path) -> None:
    (tmp_path / "releases.py").write_text((ROOT / "examples" / "releases.py").read_text())
    deployed = ok_json(plane, "deploy", "releases.py")["deployments"]
    assert {d["status"] for d in deployed} == {"ready"}, deployed

    first = release(plane, "api", "production")
    assert first["status"] == "running" and first["queue"] is None
    wait_for(lambda: at_approval(plane, first["id"]), 60, "the first release to wait for its approval")
    second = release(plane, "web", "production")
    assert second["status"] == "queued" and second["queue"] == {"key": "production", "position": 1}, second
    told = f"run {second['id']} release_train queued: its concurrency key is busy (knflow get {second['id']})"
    wait_for(lambda: told in plane.log(), 30, "knflow dev to tell the person watching it")
    hooked = httpx.post(f"{plane.url}/hooks/releases", json={"service": "db", "env": "production"}, timeout=30)
    assert hooked.status_code == 202, hooked.text
    third_id = hooked.json()["workflow_run_id"]
    wait_for(lambda: get(plane, third_id)["status"] == "queued", 60, "the hook's run to be created")
    # priority 10 (the HTTP trigger's) goes before the CLI's run, queued earlier with priority 0
    assert get(plane, third_id)["queue"] == {"key": "production", "position": 1}
    assert get(plane, second["id"])["queue"] == {"key": "production", "position": 2}
    assert {s["status"] for s in get(plane, second["id"])["steps"]} == {"pending"}  # nothing ready, nothing claimed

    staging = release(plane, "api", "staging")  # another key: runs at once
    assert staging["status"] == "running"
    wait_for(lambda: at_approval(plane, staging["id"]), 60, "the staging release to wait for its approval")

    shown = plane.cli("get", second["id"])
    assert shown.returncode == 0, shown.stderr
    assert "queued" in shown.stdout and "position 2 in queue production" in shown.stdout, shown.stdout
    listed = plane.cli("runs", "--status", "queued")
    assert listed.returncode == 0, listed.stderr
    assert second["id"] in listed.stdout and third_id in listed.stdout and "queued #2" in listed.stdout, listed.stdout
    page = httpx.get(f"{plane.url}/v1/runs", params={"status": "queued"}, timeout=30).json()
    assert {r["id"]: r["queue"]["position"] for r in page["runs"]} == {third_id: 1, second["id"]: 2}

    cancelled = plane.cli("cancel", second["id"])
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    after_cancel = get(plane, second["id"])
    assert after_cancel["status"] == "cancelled" and after_cancel["queue"] is None
    assert get(plane, third_id)["queue"] == {"key": "production", "position": 1}

    approved = plane.cli("approve", first["id"], "go")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    done = ok_json(plane, "get", first["id"], "--watch")
    assert done["status"] == "succeeded" and done["result"] == "released api-production.tar.gz to production"
    # the first release's end started the next in the queue: the hook's
    wait_for(lambda: at_approval(plane, third_id), 60, "the hook's release to start and wait for its approval")
    assert get(plane, third_id)["queue"] is None
    assert f"run {third_id} release_train started from its queue" in plane.log()
    assert plane.cli("approve", third_id, "go").returncode == 0
    third = ok_json(plane, "get", third_id, "--watch")
    assert third["status"] == "succeeded" and third["result"] == "released db-production.tar.gz to production"
    built = next(s for s in third["steps"] if s["name"] == "build")
    assert built["started_at"] >= done["finished_at"]  # it started after the first ended, not before

    assert plane.cli("approve", staging["id"], "go").returncode == 0
    assert ok_json(plane, "get", staging["id"], "--watch")["status"] == "succeeded"


def test_a_run_without_a_value_for_its_key_is_refused_naming_the_field(plane: ControlPlane, tmp_path: Path) -> None:
    (tmp_path / "regions.py").write_text(
        "from knflow import Concurrency, action, workflow\n\n\n"
        "@action\ndef ship(order: dict) -> str:\n    return str(order)\n\n\n"
        "@workflow(concurrency=Concurrency(key='inputs.order.region', limit=2))\n"
        "def by_region(order: dict):\n    return ship(order=order)\n"
    )
    assert plane.cli("deploy", "regions.py").returncode == 0
    refused = httpx.post(
        f"{plane.url}/v1/runs", json={"workflow": "by_region", "inputs": {"order": {"id": 1}}}, timeout=30
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "inputs.order.region", refused.json()
    ran = ok_json(plane, "run", "by_region", "-i", 'order={"id": 1, "region": "eu"}')
    assert ran["status"] == "succeeded" and ran["result"] == "{'id': 1, 'region': 'eu'}"


def test_queued_runs_outlive_a_killed_control_plane_and_start_in_turn(tmp_path: Path) -> None:
    (tmp_path / "releases.py").write_text((ROOT / "examples" / "releases.py").read_text())
    plane = ControlPlane(tmp_path / ".knflow").start()
    try:
        assert plane.cli("deploy", "releases.py").returncode == 0
        first = release(plane, "api", "production")
        wait_for(lambda: at_approval(plane, first["id"]), 60, "the first release to wait for its approval")
        queued = [release(plane, service, "production") for service in ("web", "db")]
        assert [r["status"] for r in queued] == ["queued", "queued"]
        plane.kill()  # SIGKILL: no clean-up; the queue is rows in the store
    finally:
        plane.stop()
    back = ControlPlane(plane.state_dir, port=plane.port).start()
    try:
        assert [get(back, r["id"])["queue"]["position"] for r in queued] == [1, 2]
        assert back.cli("approve", first["id"], "go").returncode == 0
        for run in queued:  # each starts once the one before it ended, in arrival order
            wait_for(lambda run=run: at_approval(back, run["id"]), 60, f"{run['id']} to start from its queue")
            others = [get(back, r["id"])["status"] for r in queued if r is not run]
            assert "running" not in others, others  # never two at once: the limit is 1
            assert back.cli("approve", run["id"], "go").returncode == 0
            assert ok_json(back, "get", run["id"], "--watch")["status"] == "succeeded"
    finally:
        back.stop()


THROTTLED = """
import time

from knflow import action, workflow


@action(max_concurrency=1)
def render(page: int) -> float:
    time.sleep(0.5)
    return page


@workflow
def book(pages: int):
    return [render.named(f"p{i}")(page=i) for i in range(3)]
"""


def test_an_actions_max_concurrency_holds_its_steps_throttled_and_runs_them_one_at_a_time(
    plane: ControlPlane, tmp_path: Path
) -> None:
    (tmp_path / "book.py").write_text(THROTTLED)
    assert plane.cli("deploy", "book.py").returncode == 0
    started = [ok_json(plane, "run", "book", "-i", "pages=3", "--no-wait")["id"] for _ in range(2)]
    seen = wait_for(
        lambda: [s["status"] for s in get(plane, started[1])["steps"] if s["status"] == "throttled"],
        60,
        "a step held by its action's max_concurrency",
    )
    assert seen  # ready, not dispatched, visible as such
    spans = []
    for run_id in started:
        run = ok_json(plane, "get", run_id, "--watch")
        assert run["status"] == "succeeded" and run["result"] == [0, 1, 2], run
        spans += [(at(a["started_at"]), at(a["finished_at"])) for s in run["steps"] for a in s["attempts"]]
    spans.sort()
    assert len(spans) == 6  # one attempt each, never two at once across both runs
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans)), spans


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
