"""A run's light view and a step's full record through a real ``knflow dev``, the workflow deployed with
``knflow deploy``: a map whose joined result is offloaded to the object store (300 items of 1 KB each,
over the 256 KiB threshold). ``GET /v1/runs/{id}?outputs=false`` has the run's shape without the payloads
(the result as its size), ``GET /v1/runs/{id}/steps/{step}`` the step in full; unknown runs and steps get
404 problems naming ``run_id`` and ``step``; ``Client.get_run(outputs=False)`` and ``Client.get_step`` parse
both. (That the light view reads nothing from the object store is counted in
``tests/integration/files/test_run_views.py``, through the real local and S3 stores.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from knflow.client import Client

from .processes import ControlPlane

FLOW = """
from knflow import action, workflow


@action
def pad(n: int) -> str:
    return f"{n:06d}" + "x" * 1000


@action
def first(numbers: list) -> int:
    return numbers[0]


@workflow
def padded(numbers: list):
    head = first(numbers=numbers)
    return pad.map(n=numbers)
"""

COUNT = 300


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path_factory.mktemp("views") / ".knflow").start()
    try:
        (cp.state_dir.parent / "padded.py").write_text(FLOW)
        done = cp.cli("deploy", "padded.py", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="module")
def run(plane: ControlPlane) -> dict[str, Any]:
    done = plane.cli("run", "padded", "--input-json", json.dumps({"numbers": list(range(COUNT))}), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    started = json.loads(done.stdout)
    assert started["status"] == "succeeded", started
    return dict(started)


def by_name(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in run["steps"]}


def test_the_light_view_has_the_run_s_shape_without_its_payloads(plane: ControlPlane, run: dict[str, Any]) -> None:
    full = httpx.get(f"{plane.url}/v1/runs/{run['id']}", timeout=30)
    light = httpx.get(f"{plane.url}/v1/runs/{run['id']}", params={"outputs": "false"}, timeout=30)
    assert full.status_code == light.status_code == 200, light.text
    assert len(full.json()["result"]) == COUNT and full.json().get("omitted") is None  # the default: as before
    shape = light.json()
    assert shape["result"] is None
    assert shape["omitted"]["result"] >= COUNT * 1000  # its size, from the reference to its stored copy
    assert shape["inputs"] == {"numbers": list(range(COUNT))}  # small enough to stay
    steps = by_name(shape)
    assert {name: step["outputs"] for name, step in steps.items()} == {"first": None, "pad": None}
    assert steps["pad"]["map"]["succeeded"] == COUNT and steps["pad"]["status"] == "succeeded"
    [attempt] = steps["first"]["attempts"]
    assert (attempt["status"], attempt["inputs"], attempt["outputs"], attempt["logs"]) == ("succeeded", None, None, "")
    assert len(light.content) * 20 < len(full.content), (len(light.content), len(full.content))


def test_a_step_s_full_record_has_its_outputs_and_attempts(plane: ControlPlane, run: dict[str, Any]) -> None:
    pad = httpx.get(f"{plane.url}/v1/runs/{run['id']}/steps/pad", timeout=30)
    assert pad.status_code == 200, pad.text
    body = pad.json()
    assert body["name"] == "pad" and body["map"]["total"] == COUNT
    assert body["outputs"]["result"][7] == "000007" + "x" * 1000
    head = httpx.get(f"{plane.url}/v1/runs/{run['id']}/steps/first", timeout=30).json()
    assert head["outputs"] == {"result": 0}
    [attempt] = head["attempts"]
    assert attempt["inputs"] == {"numbers": list(range(COUNT))} and attempt["outputs"] == {"result": 0}


def test_unknown_runs_and_steps_are_404_problems_naming_the_field(plane: ControlPlane, run: dict[str, Any]) -> None:
    for path, field in (
        (f"/v1/runs/{run['id']}/steps/nope", "step"),
        ("/v1/runs/0123456789abcdef/steps/pad", "run_id"),
        ("/v1/runs/0123456789abcdef?outputs=false", "run_id"),
    ):
        reply = httpx.get(f"{plane.url}{path}", timeout=30)
        assert reply.status_code == 404, (path, reply.text)
        assert reply.headers["content-type"].startswith("application/problem+json"), reply.headers
        assert reply.json()["field"] == field, (path, reply.text)
    bad = httpx.get(f"{plane.url}/v1/runs/{run['id']}", params={"outputs": "maybe"}, timeout=30)
    assert bad.status_code == 422 and "outputs" in bad.text, bad.text


def test_the_client_reads_both(plane: ControlPlane, run: dict[str, Any]) -> None:
    with Client(plane.url) as client:
        shape = client.get_run(run["id"], outputs=False)
        step = client.get_step(run["id"], "pad")
    assert shape.result is None and shape.omitted is not None and shape.omitted["result"] > COUNT * 1000
    assert all(s.outputs is None for s in shape.steps)
    assert step.outputs is not None and len(step.outputs["result"]) == COUNT
