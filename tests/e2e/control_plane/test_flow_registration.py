"""Dynamic flows at registration, against a real ``knflow dev``: a ``knflow.dev/v2`` spec is checked field by
field (a condition's syntax error named with its column, a v1 spec told which field needs v2, a sub-workflow
step's workflow and inputs), and ``knflow graph`` draws a file before any deploy. (Every feature runs now:
the gate refusing one a control plane does not run, for a spec a newer replica stored, is unit-tested in
``tests/unit/control_plane/test_flow_gate.py``.)"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .processes import BIN, ROOT, ControlPlane

ACTION = {
    "name": "shout",
    "version": "abc123",
    "entrypoint": "app:shout",
    "inputs": {"text": {"type": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path_factory.mktemp("flows") / ".knflow").start()
    yield cp
    cp.stop()


def spec(when: str, api_version: str = "knflow.dev/v2") -> dict[str, Any]:
    return {
        "api_version": api_version,
        "name": "branchy",
        "inputs": {"text": {"type": {"type": "string"}}},
        "steps": [
            {"name": "first", "action": "shout", "inputs": {"text": {"input": "text"}}},
            {"name": "notify", "action": "shout", "inputs": {"text": "hi"}, "when": when},
        ],
        "actions": {"shout": ACTION},
    }


def post_yaml(cp: ControlPlane, data: dict[str, Any]) -> httpx.Response:
    body = yaml.safe_dump(data)
    return httpx.post(f"{cp.url}/v1/workflows", content=body, headers={"content-type": "application/yaml"}, timeout=60)


def test_a_condition_that_does_not_parse_is_named_with_its_column(plane: ControlPlane) -> None:
    reply = post_yaml(plane, spec("steps.first.output.result == "))
    assert reply.status_code == 422, reply.text
    problem = reply.json()
    assert problem["field"] == "steps.notify.when"
    assert "expected a value, a reference or '(', found the end (at column 30)" in problem["detail"]
    unknown = post_yaml(plane, spec("steps.ghost.output.ok"))
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [
        {"field": "steps.notify.when", "message": "steps.ghost.output.ok: unknown step 'ghost'"}
    ]


def test_a_v1_spec_is_told_which_field_needs_v2(plane: ControlPlane) -> None:
    reply = post_yaml(plane, spec("true", api_version="knflow.dev/v1"))
    assert reply.status_code == 422, reply.text
    assert "when needs api_version: knflow.dev/v2 (this spec says knflow.dev/v1)" in reply.json()["detail"]


def test_a_sub_workflow_step_names_a_registered_workflow_with_inputs_it_takes(plane: ControlPlane) -> None:
    child = {**spec("true", api_version="knflow.dev/v1"), "name": "child"}
    child["steps"] = child["steps"][:1]
    assert post_yaml(plane, child).status_code in (200, 201)

    def parent(call: dict[str, Any], inputs: dict[str, Any]) -> httpx.Response:
        data = spec("true")
        data["steps"] = [{"name": "call", "workflow": call, "inputs": inputs}]
        return post_yaml(plane, {**data, "name": "parent"})

    ghost = parent({"name": "ghost"}, {})
    assert (ghost.status_code, ghost.json()["field"]) == (422, "steps.call.workflow.name"), ghost.text
    assert "workflow 'ghost' is not registered" in ghost.json()["detail"]
    old = parent({"name": "child", "version": "0123456789ab"}, {"text": "hi"})
    assert (old.status_code, old.json()["field"]) == (422, "steps.call.workflow.version"), old.text
    wrong = parent({"name": "child"}, {"nope": 1})
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["errors"] == [
        {"field": "steps.call.inputs.nope", "message": "workflow child has no input 'nope'"},
        {"field": "steps.call.inputs.text", "message": "missing required input of workflow child"},
    ]
    fine = parent({"name": "child"}, {"text": {"input": "text"}})
    assert fine.status_code in (200, 201), fine.text  # sub-workflows run (test_flow_children.py)


def test_knflow_graph_draws_a_file_before_any_deploy(tmp_path: Path) -> None:
    (tmp_path / "branches.py").write_text((ROOT / "examples" / "branches.py").read_text())

    def graph(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(BIN / "knflow"), "graph", "branches.py", *args]
        env = {**os.environ, "COLUMNS": "100"}
        return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False)

    drawn = graph("-w", "gallery")
    assert drawn.returncode == 0, drawn.stderr
    for piece in ("resize (map resize over image, ≤2)", "when not steps.listing.output.many", "(workflow thumbnail)"):
        assert piece in drawn.stdout, drawn.stdout
    layers = json.loads(graph("-w", "gallery", "--json").stdout)["layers"]
    assert [[step["name"] for step in layer] for layer in layers] == [
        ["listing", "thumbnail"],
        ["resize"],
        ["archive", "single"],
    ]
    unchosen = graph()
    assert unchosen.returncode == 2
    assert unchosen.stderr.strip().endswith("defines 2 workflows (gallery, thumbnail): choose one with --workflow")
