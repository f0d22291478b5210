"""Pinned versions, through the real ``knflow`` command and a real ``knflow dev``: a run keeps the workflow
and action versions it started with while a new version is deployed; ``knflow rollback`` moves the
deployment back (to the version before, or a named one); ``knflow retry --latest`` starts the run again on
the version deployed now."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .processes import BIN, ControlPlane

CODE = '''
import time
from pathlib import Path

from knflow import action, workflow


@action(timeout="120s")
def answer(release: str = "") -> str:
    """Waits for the file ``release`` (when given), then says which code ran."""
    while release and not Path(release).exists():
        time.sleep(0.05)
    return "{tag}"


@workflow
def pinned(release: str = ""):
    return answer(release=release)
'''


def knflow(cp: ControlPlane, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run(
        [str(BIN / "knflow"), *args, "--url", cp.url],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def ok_json(cp: ControlPlane, *args: str, cwd: Path) -> Any:
    done = knflow(cp, *args, "--json", cwd=cwd)
    assert done.returncode == 0, f"knflow {' '.join(args)}: {done.stdout}{done.stderr}"
    return json.loads(done.stdout)


def deploy(cp: ControlPlane, folder: Path, tag: str) -> str:
    (folder / "pinned.py").write_text(CODE.replace("{tag}", tag))
    deployed = ok_json(cp, "deploy", str(folder / "pinned.py"), cwd=folder)["deployments"][0]
    assert deployed["status"] == "ready", deployed
    return str(deployed["version"])


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path / ".knflow").start()
    yield cp
    cp.stop()


def test_a_run_keeps_its_versions_and_rollback_and_retry_latest_choose_them(
    plane: ControlPlane, tmp_path: Path
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    v1 = deploy(plane, folder, "one")
    release = tmp_path / "release"
    waiting = ok_json(plane, "run", "pinned", "-i", f"release={release}", "--no-wait", cwd=folder)
    assert waiting["workflow_version"] == v1

    v2 = deploy(plane, folder, "two")  # while the first run waits in its step
    assert v2 != v1
    release.write_text("go")
    first = ok_json(plane, "get", waiting["id"], "--watch", cwd=folder)
    assert (first["status"], first["result"], first["workflow_version"]) == ("succeeded", "one", v1)
    v1_action = first["steps"][0]["version"]
    second = ok_json(plane, "run", "pinned", cwd=folder)
    assert (second["result"], second["workflow_version"]) == ("two", v2)
    assert second["steps"][0]["version"] != v1_action

    back = ok_json(plane, "rollback", "pinned", cwd=folder)  # to the version before the deployed one
    assert (back["status"], back["version"]) == ("ready", v1)
    assert ok_json(plane, "run", "pinned", cwd=folder)["result"] == "one"
    shown = knflow(plane, "rollback", "pinned", v2, cwd=folder)  # a named version
    assert shown.returncode == 0 and f"workflow pinned: ready at version {v2}" in shown.stdout

    again = ok_json(plane, "retry", first["id"], "--latest", cwd=folder)
    assert again["id"] != first["id"]
    assert (again["status"], again["result"], again["workflow_version"]) == ("succeeded", "two", v2)
    assert again["trigger"] == {"kind": "retry", "run_id": first["id"], "version": v1}
    assert again["inputs"] == {"release": str(release)}
    untouched = ok_json(plane, "get", first["id"], cwd=folder)
    assert (untouched["result"], untouched["workflow_version"], untouched["steps"][0]["version"]) == (
        "one",
        v1,
        v1_action,
    )


def test_rollback_and_retry_latest_refuse_plainly(plane: ControlPlane, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    only = deploy(plane, folder, "only")
    cases = [
        (["rollback", "pinned"], f"no version was registered before {only}"),
        (["rollback", "nothere"], "workflow 'nothere' does not exist"),
        (["rollback", "pinned", "0123456789ab"], "workflow 'pinned' version '0123456789ab' does not exist"),
        (["rollback", "pinned", "latest"], "version"),
        (["retry", "0" * 28, "--latest"], "does not exist"),
        (["retry", "0" * 28, "--latest", "--step", "answer"], "--latest runs every step again: leave out --step"),
    ]
    for args, message in cases:
        done = knflow(plane, *args, cwd=folder)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
