"""What the web UI reads, over HTTP from a real ``knflow dev``: the live feed, triggers, retrying a step,
and the page itself."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from knflow.client import ApiError, Client

from ..control_plane.processes import ControlPlane
from .conftest import FLOWS, deploy


def changes_until(
    url: str, run_id: str | None, last: str, on_hello: Callable[[], None], timeout: float = 60.0
) -> list[dict[str, Any]]:
    """The feed's changes of one run (or of all) until one of type ``last``, across the stream's
    reconnections; ``on_hello`` is called once each stream is open."""
    seen: list[dict[str, Any]] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        params = {"run_id": run_id} if run_id else {}
        with httpx.stream("GET", f"{url}/v1/stream", params=params, timeout=30) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            event = ""
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                    if event == "hello":
                        on_hello()
                elif line.startswith("data: ") and event == "change":
                    seen.append(json.loads(line[6:]))
                    if seen[-1]["type"] == last:
                        return seen
    raise AssertionError(f"no {last} in {seen}")


def test_the_feed_carries_a_runs_changes_live(plane: ControlPlane, tmp_path: Path) -> None:
    deploy(plane, tmp_path, FLOWS / "gated.py")
    gate = tmp_path / "gate"
    started = httpx.post(
        f"{plane.url}/v1/runs",
        json={"workflow": "gated", "inputs": {"gate": str(gate), "marker": str(tmp_path / "none")}},
        timeout=30,
    ).json()
    seen = changes_until(plane.url, started["id"], "dev.knflow.run.failed", gate.touch)  # opened once we listen
    steps = [(c["type"].rsplit(".", 1)[-1], c["step"]) for c in seen if c["kind"] == "step"]
    assert ("succeeded", "wait_for") in steps and steps[-1] == ("failed", "check")
    assert seen[-1]["run_status"] == "failed" and all(c["run_id"] == started["id"] for c in seen)
    missing = httpx.get(f"{plane.url}/v1/stream", params={"run_id": "no-such-run"}, timeout=10)
    assert missing.status_code == 404 and missing.json()["field"] == "run_id"
    with Client(plane.url) as client:  # the typed client reads the same feed
        first = next(iter(client.changes(started["id"])))
        assert first.kind == "hello" and first.run_id == started["id"]
        with pytest.raises(ApiError, match="no-such-run"):
            next(iter(client.changes("no-such-run")))


def test_retry_a_chosen_step_and_the_problems_of_a_bad_one(plane: ControlPlane, tmp_path: Path) -> None:
    deploy(plane, tmp_path, FLOWS / "gated.py")
    (tmp_path / "gate").touch()
    (tmp_path / "marker").touch()
    inputs = {"gate": str(tmp_path / "gate"), "marker": str(tmp_path / "marker")}
    run = httpx.post(f"{plane.url}/v1/runs?wait=60", json={"workflow": "gated", "inputs": inputs}, timeout=90).json()
    assert run["status"] == "succeeded"
    url = f"{plane.url}/v1/runs/{run['id']}/retry"

    nothing = httpx.post(url, timeout=10)
    assert nothing.status_code == 409 and nothing.json()["field"] == "run_id"
    unknown = httpx.post(url, json={"step": "nope"}, timeout=10)
    assert unknown.status_code == 404 and unknown.json()["field"] == "step"
    assert "nope" in unknown.json()["detail"]
    bad = httpx.post(url, json={"step": 3}, timeout=10)
    assert bad.status_code in (400, 422) and "step" in bad.text

    again = plane.cli("retry", run["id"], "--step", "check", "--json", "--timeout", "60")
    assert again.returncode == 0, again.stderr
    retried = httpx.get(f"{plane.url}/v1/runs/{run['id']}", timeout=10).json()
    assert retried["status"] == "succeeded"
    assert {s["name"]: len(s["attempts"]) for s in retried["steps"]} == {"wait_for": 1, "check": 2}


def test_triggers_with_the_next_fire_time_and_the_page_at_every_client_route(
    plane: ControlPlane, tmp_path: Path
) -> None:
    deploy(plane, tmp_path, FLOWS / "gated.py")
    triggers = httpx.get(f"{plane.url}/v1/workflows/nightly/triggers", timeout=10).json()
    assert triggers["deployed"] is True
    kinds = {t["kind"]: t for t in triggers["triggers"]}
    assert kinds["http"]["hook"] == "/hooks/nightly" and kinds["http"]["enabled"] is True
    assert kinds["schedule"]["spec"]["cron"] == "0 3 * * *"
    assert kinds["schedule"]["next_fire_at"].endswith(":00:00Z")
    assert httpx.get(f"{plane.url}/v1/workflows/nope/triggers", timeout=10).json()["field"] == "workflow"

    assert httpx.post(f"{plane.url}/v1/workflows/nightly/undeploy", timeout=30).status_code == 200
    off = httpx.get(f"{plane.url}/v1/workflows/nightly/triggers", timeout=10).json()
    assert off["deployed"] is False and all(not t["enabled"] and not t["next_fire_at"] for t in off["triggers"])

    for path in ("/ui", "/ui/", "/ui/runs/abc", "/ui/workflows/nightly?version=x"):
        page = httpx.get(f"{plane.url}{path}", timeout=10)
        assert page.status_code == 200 and '<div id="app">' in page.text, path
    asset = page.text.split('src="')[1].split('"')[0]
    assert httpx.get(f"{plane.url}{asset}", timeout=10).headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{plane.url}/", timeout=10).headers["location"] == "/ui/"
    assert "/v1/stream" in httpx.get(f"{plane.url}/openapi.json", timeout=10).json()["paths"]


def test_the_feed_carries_skipped_and_waiting_steps(plane: ControlPlane, tmp_path: Path) -> None:
    deploy(plane, tmp_path, FLOWS / "release.py")
    started: list[str] = []

    def start() -> None:  # once the (all-runs) stream listens, so that no change comes before it
        if not started:
            reply = httpx.post(
                f"{plane.url}/v1/runs", json={"workflow": "release", "inputs": {"order": "F1"}}, timeout=30
            )
            assert reply.status_code in (200, 201, 202), reply.text
            started.append(reply.json()["id"])

    seen = changes_until(plane.url, None, "dev.knflow.step.waiting", start)
    steps = [(c["type"], c["step"]) for c in seen if c["run_id"] == started[0]]
    assert ("dev.knflow.step.skipped", "express") in steps, steps
    assert steps[-1] == ("dev.knflow.step.waiting", "ok") and seen[-1]["run_status"] == "running"
    decided = httpx.post(f"{plane.url}/v1/runs/{started[0]}/steps/ok/approve", json={"comment": "ok"}, timeout=30)
    assert decided.status_code == 200 and decided.json()["id"] == started[0], decided.text
