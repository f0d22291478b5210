"""Conditions on a control plane, through the real ``knflow`` command and a real ``knflow dev``: a branch
on a step's result (one run takes each branch, the other branch's step recorded ``skipped`` in the API and
in ``knflow get``), the result from ``first_of``, and an ``after`` edge that orders steps without data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .processes import ControlPlane

CODE = """
from knflow import action, first_of, workflow


@action
def classify(n: int) -> dict:
    return {"big": n > 10}


@action
def shout(n: int) -> dict:
    return {"text": f"BIG {n}"}


@action
def whisper(n: int) -> dict:
    return {"text": f"small {n}"}


@action
def sign(text: str) -> str:
    return text + " (signed)"


@workflow
def branchy(n: int):
    kind = classify(n=n)
    big = shout.when(kind["big"])(n=n)
    small = whisper.when("not steps.classify.output.big")(n=n)
    signed = sign(text=big["text"])  # reads the big branch: skipped with it
    return {"text": first_of(big["text"], small["text"]), "signed": first_of(signed, None)}
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


def statuses(run: dict[str, Any]) -> dict[str, str]:
    return {step["name"]: step["status"] for step in run["steps"]}


def test_each_run_takes_one_branch_and_the_result_comes_from_first_of(plane: ControlPlane, tmp_path: Path) -> None:
    (tmp_path / "branchy.py").write_text(CODE)
    deployed = ok_json(plane, "deploy", "branchy.py")["deployments"][0]
    assert deployed["status"] == "ready", deployed

    big = ok_json(plane, "run", "branchy", "-i", "n=42")
    assert big["status"] == "succeeded", big
    assert big["result"] == {"text": "BIG 42", "signed": "BIG 42 (signed)"}
    small = ok_json(plane, "run", "branchy", "-i", "n=3")
    assert small["status"] == "succeeded", small
    assert small["result"] == {"text": "small 3", "signed": None}

    run = httpx.get(f"{plane.url}/v1/runs/{small['id']}", timeout=30).json()
    assert statuses(run) == {
        "classify": "succeeded",
        "shout": "skipped",
        "whisper": "succeeded",
        "sign": "skipped",
    }
    assert statuses(httpx.get(f"{plane.url}/v1/runs/{big['id']}", timeout=30).json())["whisper"] == "skipped"
    shown = plane.cli("get", small["id"])
    assert shown.returncode == 0, shown.stderr
    lines = {line.split()[0]: line for line in shown.stdout.splitlines() if line.strip()}
    assert "skipped" in lines["shout"] and "skipped" in lines["sign"], shown.stdout
    assert "succeeded" in lines["whisper"], shown.stdout
    watched = plane.cli("run", "branchy", "-i", "n=5")
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert "skipped" in watched.stdout and "small 5" in watched.stdout, watched.stdout


def test_after_orders_steps_that_share_no_data(plane: ControlPlane, tmp_path: Path) -> None:
    (tmp_path / "acts.py").write_text(CODE)
    ok_json(plane, "deploy", "acts.py")
    registered = httpx.get(f"{plane.url}/v1/workflows/branchy", timeout=30).json()
    actions = registered["spec"]["actions"]
    spec = {
        "api_version": "knflow.dev/v2",
        "name": "ordered",
        "inputs": {"n": registered["spec"]["inputs"]["n"]},
        "steps": [
            {"name": "first", "action": "whisper", "inputs": {"n": {"input": "n"}}},
            {"name": "second", "action": "shout", "inputs": {"n": {"input": "n"}}, "after": ["first"]},
        ],
        "actions": {"whisper": actions["whisper"], "shout": actions["shout"]},
        "result": {"step": "second", "output": "text"},
    }
    reply = httpx.post(
        f"{plane.url}/v1/workflows",
        content=yaml.safe_dump(spec),
        headers={"content-type": "application/yaml"},
        timeout=60,
    )
    assert reply.status_code in (200, 201), reply.text
    deploying = httpx.post(f"{plane.url}/v1/workflows/ordered/deploy", json={}, timeout=120)
    assert deploying.status_code in (200, 202), deploying.text
    done = ok_json(plane, "run", "ordered", "-i", "n=7")
    assert done["status"] == "succeeded" and done["result"] == "BIG 7", done
    steps = {step["name"]: step for step in httpx.get(f"{plane.url}/v1/runs/{done['id']}", timeout=30).json()["steps"]}
    assert steps["first"]["finished_at"] <= steps["second"]["started_at"]
