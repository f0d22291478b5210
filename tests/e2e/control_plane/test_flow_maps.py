"""Map steps on a control plane, through the real ``knflow`` command and a real ``knflow dev``:
``examples/maps.py`` deployed and run (a thumbnail per photo, joined in order; ``on_error="collect"``
keeping an error record in place), the step's counts in ``GET /v1/runs/{id}`` and ``knflow get``, its
items paginated by ``GET .../steps/{step}/items`` and ``knflow items`` (bad cursor, unknown run, a step
that is not a map refused), and a failed map retried with ``knflow retry``: only the failed and skipped
items run again."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .processes import ROOT, ControlPlane, wait_for

FLAKY = """
from pathlib import Path

from knflow import ActionError, action, unmapped, workflow


@action
def check(n: int, fixed: str) -> int:
    if n == 2 and not Path(fixed).exists():
        raise ActionError(code=422, message=f"item {n} is broken")
    return n * 10


@workflow
def strict(numbers: list, fixed: str):
    return check.map(n=numbers, fixed=unmapped(fixed), max_parallel=1)
"""


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path_factory.mktemp("maps") / ".knflow").start()
    try:
        shutil.copy(ROOT / "examples" / "maps.py", cp.state_dir.parent / "maps.py")
        (cp.state_dir.parent / "flaky.py").write_text(FLAKY)
        for file in ("maps.py", "flaky.py"):
            deployed = ok_json(cp, "deploy", file)["deployments"]
            assert {d["status"] for d in deployed} == {"ready"}, deployed
        yield cp
    finally:
        cp.stop()


def ok_json(cp: ControlPlane, *args: str) -> Any:
    done = cp.cli(*args, "--json")
    assert done.returncode == 0, f"knflow {' '.join(args)}: {done.stdout}{done.stderr}"
    return json.loads(done.stdout)


def steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in run["steps"]}


def items(cp: ControlPlane, run_id: str, step: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{cp.url}/v1/runs/{run_id}/steps/{step}/items", params=params, timeout=30)


def test_the_example_maps_a_list_known_at_run_time(plane: ControlPlane) -> None:
    run = ok_json(plane, "run", "thumbnails", "-i", "count=20")
    assert run["status"] == "succeeded", run
    assert run["result"]["files"] == [f"photo-{i}@128.png" for i in range(20)]
    resize = steps(run)["resize"]
    assert resize["status"] == "succeeded" and resize["attempts"] == []
    assert resize["map"] == {"total": 20, "succeeded": 20, "failed": 0, "running": 0, "pending": 0, "skipped": 0}
    shown = plane.cli("get", run["id"])
    assert shown.returncode == 0, shown.stderr
    assert "map resize: 20/20 items succeeded, 0 failed, 0 running, 0 pending, 0 skipped" in shown.stdout
    assert f"  items: knflow items {run['id']} resize" in shown.stdout
    assert all(len(line) <= 80 for line in shown.stdout.splitlines()), shown.stdout  # a terminal's width

    seen, cursor = [], None
    for _ in range(3):
        page = items(plane, run["id"], "resize", limit=8, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
    assert cursor is None
    assert [(i["index"], i["status"], i["attempts"], i["output"]) for i in seen] == [
        (i, "succeeded", 1, f"photo-{i}@128.png") for i in range(20)
    ]
    listed = ok_json(plane, "items", run["id"], "resize", "--all", "--limit", "7")
    assert [i["index"] for i in listed["items"]] == list(range(20)) and listed["next_cursor"] is None

    bad = items(plane, run["id"], "resize", cursor="x")
    assert (bad.status_code, bad.json()["field"]) == (422, "cursor"), bad.text
    plain = items(plane, run["id"], "listing")
    assert (plain.status_code, plain.json()["field"]) == (404, "step"), plain.text
    assert "not a map step" in plain.json()["detail"]
    nobody = items(plane, "0123456789abcdef", "resize")
    assert (nobody.status_code, nobody.json()["field"]) == (404, "run_id"), nobody.text
    refused = plane.cli("items", run["id"], "listing")
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr


def test_collect_keeps_an_error_record_in_its_place(plane: ControlPlane) -> None:
    run = ok_json(plane, "run", "grades", "--input-json", json.dumps({"scores": [70, -1, 40]}))
    assert run["status"] == "succeeded", run
    passed, record, failed = run["result"]
    assert (passed, failed, record["index"]) == ("pass", "fail", 1)
    assert record["error"]["message"] == "score -1 is negative"
    assert steps(run)["grade"]["map"]["failed"] == 1
    [item] = items(plane, run["id"], "grade", status="failed").json()["items"]
    assert (item["index"], item["error"]["code"]) == (1, 422)


def test_a_retry_runs_again_only_the_items_that_did_not_succeed(plane: ControlPlane) -> None:
    fixed = plane.state_dir.parent / "fixed"
    inputs = json.dumps({"numbers": [0, 1, 2, 3, 4], "fixed": str(fixed)})
    done = plane.cli("run", "strict", "--input-json", inputs, "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "failed" and run["error"]["item"] == 2, run
    check = steps(run)["check"]
    assert check["map"] == {"total": 5, "succeeded": 2, "failed": 1, "running": 0, "pending": 0, "skipped": 2}
    assert "item 2: ActionError: item 2 is broken" in check["error"]["message"]
    fixed.write_text("yes")
    retried = plane.cli("retry", run["id"], "--json")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    again = wait_for(
        lambda: (r := httpx.get(f"{plane.url}/v1/runs/{run['id']}", timeout=30).json())["status"] != "running" and r,
        60,
        "the retried run to end",
    )
    assert again["status"] == "succeeded" and again["result"] == [0, 10, 20, 30, 40], again
    attempts = [i["attempts"] for i in items(plane, run["id"], "check").json()["items"]]
    assert attempts == [1, 1, 2, 1, 1]  # the items that succeeded before did not run again
