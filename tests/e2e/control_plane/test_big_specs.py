"""Specs have documented limits (steps, bytes), validation is linear, and a big spec is parsed and checked
off the event loop: the control plane keeps answering while it works on one."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from knflow import action, workflow
from tests.e2e.control_plane.processes import ControlPlane

MiB = 1024 * 1024


@action
def inc(x: int) -> int:
    """x + 1."""
    return x + 1


@workflow
def one(x: int) -> object:
    """One step."""
    return inc(x=x)


def spec_of(steps: int, *, chain: bool = True, name: str = "big") -> dict[str, Any]:
    """A spec of ``steps`` steps of ``inc``, each reading the one before (or all the workflow input)."""
    spec = one.spec.model_dump(mode="json") | {"name": name, "result": None}
    spec["steps"] = [
        {"name": f"s{i}", "action": "inc", "inputs": {"x": {"step": f"s{i - 1}"} if chain and i else {"input": "x"}}}
        for i in range(steps)
    ]
    return spec


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path_factory.mktemp("specs") / ".knflow").start()
    yield cp
    cp.stop()


def register(cp: ControlPlane, spec: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{cp.url}/v1/workflows", json={"spec": spec}, timeout=600)


def test_a_spec_over_the_step_limit_is_refused_naming_steps(plane: ControlPlane) -> None:
    reply = register(plane, spec_of(20_001, chain=False))
    assert reply.status_code == 422, reply.text[:500]
    assert reply.json()["field"] == "steps"
    assert "10000" in reply.json()["detail"]


def test_a_spec_over_the_byte_limit_is_refused_with_413(plane: ControlPlane) -> None:
    body = "name: huge\ndescription: " + "x" * (5 * MiB) + "\nsteps: []\n"
    reply = httpx.post(
        f"{plane.url}/v1/workflows", content=body, headers={"content-type": "application/yaml"}, timeout=120
    )
    assert reply.status_code == 413, reply.text[:500]
    assert reply.json()["field"] == "spec"


def test_yaml_aliases_are_refused_rather_than_expanded(plane: ControlPlane) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefghij":
        prev = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
    reply = httpx.post(
        f"{plane.url}/v1/workflows", content=bomb, headers={"content-type": "application/yaml"}, timeout=120
    )
    assert reply.status_code == 422, reply.text[:500]
    assert "alias" in reply.json()["detail"]


def wide_spec_of(steps: int, width: int = 30) -> dict[str, Any]:
    """``steps`` steps of an action with ``width`` inputs, each bound to a workflow input: just under the
    byte limit at 5,000 steps, and seconds of parsing and checking."""
    spec = one.spec.model_dump(mode="json") | {"name": "wide", "result": None}
    names = [f"a{i}" for i in range(width)]
    spec["inputs"] = {n: spec["inputs"]["x"] for n in names}
    spec["actions"]["inc"]["inputs"] = {n: spec["inputs"][n] for n in names}
    spec["steps"] = [
        {"name": f"s{i}", "action": "inc", "inputs": {n: {"input": n} for n in names}} for i in range(steps)
    ]
    return spec


def test_liveness_answers_while_a_big_spec_is_parsed_and_checked(plane: ControlPlane) -> None:
    body = json.dumps({"spec": wide_spec_of(5_000)}, separators=(",", ":")).encode()
    assert len(body) < 4 * MiB
    done = threading.Event()
    result: dict[str, Any] = {}

    def big() -> None:
        try:
            headers = {"content-type": "application/json"}
            result["reply"] = httpx.post(f"{plane.url}/v1/workflows", content=body, headers=headers, timeout=600)
        finally:
            done.set()

    worker = threading.Thread(target=big)
    worker.start()
    answered_meanwhile = 0
    # The bound is a failure signal, not a measurement: liveness answers in milliseconds unless the event
    # loop is blocked, and parsing this spec on the loop blocked it for seconds.
    with httpx.Client(timeout=1.0) as client:
        while not done.is_set():
            reply = client.get(f"{plane.url}/health/liveness")
            if reply.status_code == 200 and not done.is_set():
                answered_meanwhile += 1
    worker.join()
    assert result["reply"].status_code == 201, result["reply"].text[:500]
    assert answered_meanwhile > 0
    stored = httpx.get(f"{plane.url}/v1/workflows/wide", timeout=60).json()
    assert len(stored["spec"]["steps"]) == 5_000


def test_a_long_chain_is_accepted_and_its_order_checked_without_recursion(plane: ControlPlane) -> None:
    reply = register(plane, spec_of(10_000))
    assert reply.status_code == 201, reply.text[:500]
    cyclic = spec_of(3)
    cyclic["steps"][0]["inputs"] = {"x": {"step": "s2"}}
    reply = register(plane, cyclic)
    assert reply.status_code == 422, reply.text[:500]
    assert "cycle" in reply.json()["detail"]


def test_a_yaml_spec_with_a_value_json_cannot_carry_is_refused_naming_it(plane: ControlPlane) -> None:
    spec = "name: nan\nsteps:\n- name: s\n  action: inc\n  inputs:\n    x: .nan\n"
    reply = httpx.post(
        f"{plane.url}/v1/workflows", content=spec, headers={"content-type": "application/yaml"}, timeout=60
    )
    assert reply.status_code == 422, reply.text[:500]
    assert reply.json()["field"].startswith("spec.steps") and "nan" in reply.json()["detail"].lower()
    assert httpx.get(f"{plane.url}/v1/workflows/nan").status_code == 404
