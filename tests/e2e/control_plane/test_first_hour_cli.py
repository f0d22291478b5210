"""A new user's first hour, through the real `knflow` command and a real `knflow dev` (issue 21, points 5
and 6): --version, completion, plain --help, `workflows`, `graph`, progress per attempt, `get --watch`,
`files`/`download` at 80 columns, and the HTTP details of hooks and deploys."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from .processes import BIN, ControlPlane

FLOWS = Path(__file__).parent / "flows"
COMMANDS = ["dev", "deploy", "run", "retry", "runs", "get", "logs", "trace", "cancel", "undeploy", "files"]
COMMANDS += ["download", "workflows", "graph", "rejected"]


def knflow(
    cp: ControlPlane | None, *args: str, cwd: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``knflow ARGS`` in an 80-column terminal, as a person would type it (``--url`` when given a plane)."""
    env = {**os.environ, "COLUMNS": "80", **(extra_env or {})}
    url = ["--url", cp.url] if cp is not None else []
    return subprocess.run(
        [str(BIN / "knflow"), *args, *url], capture_output=True, text=True, env=env, cwd=cwd, timeout=180, check=False
    )


def fits(text: str, width: int = 80) -> bool:
    """Every line fits, but a file's link: it stays whole on its line, to be copied."""
    return all(len(line) <= width for line in text.splitlines() if '"url": "http' not in line)


@pytest.fixture
def project(control_plane: ControlPlane, tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(FLOWS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    deployed = knflow(control_plane, "deploy", str(folder / "firsthour.py"), cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    return folder


def test_version_completion_and_help_that_reads_plainly_at_80_columns(tmp_path: Path) -> None:
    shown = knflow(None, "--version", cwd=tmp_path)
    assert (shown.returncode, shown.stdout.strip()) == (0, f"knflow {version('knflow')}")

    script = knflow(None, "--show-completion", "bash", cwd=tmp_path)
    assert script.returncode == 0 and "_knflow_completion" in script.stdout
    words = {"_KNFLOW_COMPLETE": "complete_bash", "COMP_WORDS": "knflow wor", "COMP_CWORD": "1"}
    completed = knflow(None, cwd=tmp_path, extra_env=words)
    assert completed.stdout.split() == ["workflows"]

    for args in [["--help"], *([command, "--help"] for command in COMMANDS)]:
        helped = knflow(None, *args, cwd=tmp_path)
        assert helped.returncode == 0, helped.stderr
        text = helped.stdout
        assert fits(text), text
        for tag in ("<str>", "<int", "<float", "<bool>", "<path>", "list[", "{", "╭", "│", "[x>="):
            assert tag not in text, f"knflow {' '.join(args)} shows {tag!r}:\n{text}"
    listing = knflow(None, "--help", cwd=tmp_path).stdout.split("Commands:")[1]
    assert "..." not in listing and "…" not in listing  # every summary whole
    assert "--url URL" in knflow(None, "runs", "--help", cwd=tmp_path).stdout
    assert "Usage: knflow download [OPTIONS] RUN FILE" in knflow(None, "download", "--help", cwd=tmp_path).stdout


def test_workflows_lists_versions_triggers_and_the_next_fire_time(
    control_plane: ControlPlane, project: Path, tmp_path: Path
) -> None:
    listed = knflow(control_plane, "workflows", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)["workflows"]}
    assert set(rows) == {"scaled", "diamond_report", "exploding"}
    scaled = rows["scaled"]
    assert scaled["status"] == "ready" and scaled["deployed_version"]
    summaries = [t["summary"] for t in scaled["triggers"]]
    assert summaries[:2] == ["GET /hooks/scale", "POST /hooks/scale-later"]
    [cron] = [t for t in scaled["triggers"] if t["kind"] == "schedule"]
    at = datetime.fromisoformat(cron["next_fire_at"]).astimezone(ZoneInfo("Europe/Paris"))
    assert (at.hour, at.minute, at.second) == (9, 0, 0) and at.weekday() < 5
    assert at > datetime.now(ZoneInfo("Europe/Paris"))

    text = knflow(control_plane, "workflows", cwd=tmp_path).stdout
    assert fits(text), text
    assert f"scaled  {scaled['deployed_version']}  ready" in text
    assert f"    next: {at:%Y-%m-%d %H:%M:%S} {at.tzname()}" in text


def test_graph_draws_the_dag_in_the_terminal(control_plane: ControlPlane, project: Path, tmp_path: Path) -> None:
    drawn = knflow(control_plane, "graph", "diamond_report", cwd=tmp_path)
    assert drawn.returncode == 0, drawn.stderr
    lines = drawn.stdout.splitlines()
    assert fits(drawn.stdout), drawn.stdout
    assert lines[1] == "inputs: key, text"
    boxes = next(line for line in lines if "flaky" in line)
    assert "│ flaky" in boxes and "│ report" in boxes  # side by side: neither reads from the other
    assert "│ key ◀ input key" in drawn.stdout and "│ text ◀ input text" in drawn.stdout
    assert lines[-1] == "result ◀ flaky, report"
    layers = json.loads(knflow(control_plane, "graph", "diamond_report", "--json", cwd=tmp_path).stdout)["layers"]
    assert [[step["name"] for step in layer] for layer in layers] == [["flaky", "report"]]
    missing = knflow(control_plane, "graph", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and "workflow 'nope' does not exist" in missing.stderr


def test_run_shows_every_attempt_then_files_download_under_their_own_name(
    control_plane: ControlPlane, project: Path, tmp_path: Path
) -> None:
    ran = knflow(control_plane, "run", "diamond_report", "-i", f"key={uuid.uuid4().hex}", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert fits(ran.stdout), ran.stdout
    lines = [line.strip() for line in ran.stdout.splitlines()]
    assert any(
        line.startswith("✗ failed  flaky  attempt 1: ConnectionError: the dependency is down; retrying")
        for line in lines
    ), ran.stdout
    assert any(line.startswith("✓ succeeded  flaky  attempt 2") for line in lines), ran.stdout
    assert any(line.startswith("✓ succeeded  report  attempt 1") for line in lines), ran.stdout
    assert not any(word in ran.stdout for word in ("ready", "pending", "claimed"))
    run_id = lines[0].split()[1]

    listed = knflow(control_plane, "files", run_id, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [key_line] = [line for line in listed.stdout.splitlines() if line.startswith("  key: ")]
    assert all(len(line) <= 80 for line in listed.stdout.splitlines() if line is not key_line)
    assert "report.txt" in listed.stdout and "by report attempt 1" in listed.stdout
    key = key_line.removeprefix("  key: ")

    work = tmp_path / "downloads"
    work.mkdir()
    saved = knflow(control_plane, "download", run_id, key, cwd=work)
    assert saved.returncode == 0, saved.stderr
    assert (work / "report.txt").read_text() == "hello"  # its own name, not the key's last segment
    (work / "report.txt").write_text("mine")
    again = knflow(control_plane, "download", run_id, key, cwd=work)
    assert again.returncode == 2 and "report.txt exists; pass --force" in again.stderr
    assert (work / "report.txt").read_text() == "mine"  # never overwritten silently
    forced = knflow(control_plane, "download", run_id, "report.txt", "--force", cwd=work)  # by name
    assert forced.returncode == 0 and (work / "report.txt").read_text() == "hello"
    into = knflow(control_plane, "download", run_id, "report.txt", "-o", str(tmp_path), cwd=work)
    assert into.returncode == 0 and (tmp_path / "report.txt").read_text() == "hello"
    assert not list(work.glob("*.part"))

    runs = knflow(control_plane, "runs", cwd=tmp_path)
    assert fits(runs.stdout) and run_id in runs.stdout, runs.stdout
    got = knflow(control_plane, "get", run_id, cwd=tmp_path)
    assert re.search(r"^flaky +✓ succeeded +2 ", got.stdout, re.MULTILINE), got.stdout
    [link] = [line for line in got.stdout.splitlines() if '"url": ' in line]
    assert link.endswith('"') and "sig=" in link  # a long value stays on its line, whole, to copy
    assert fits(got.stdout), got.stdout


def test_get_watch_follows_a_run_until_it_ends(control_plane: ControlPlane, project: Path, tmp_path: Path) -> None:
    started = knflow(
        control_plane, "run", "diamond_report", "-i", f"key={uuid.uuid4().hex}", "--no-wait", "--json", cwd=tmp_path
    )
    assert started.returncode == 0, started.stderr
    run_id = json.loads(started.stdout)["id"]
    watched = knflow(control_plane, "get", run_id, "--watch", cwd=tmp_path)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert "run " + run_id + "  ✓ succeeded" in watched.stdout
    assert re.search(r"^flaky +✓ succeeded +2 ", watched.stdout, re.MULTILINE), watched.stdout
    failed = knflow(control_plane, "run", "scaled", "-i", "n=1", "--json", cwd=tmp_path)
    finished = json.loads(failed.stdout)["id"]
    done = knflow(control_plane, "get", finished, "--watch", cwd=tmp_path)  # already over: shown at once
    assert done.returncode == 0 and "✓ succeeded" in done.stdout


def test_hooks_and_deploys_behave_as_documented(control_plane: ControlPlane, project: Path, tmp_path: Path) -> None:
    url = control_plane.url
    typed = httpx.get(f"{url}/hooks/scale", params={"n": "3", "ratio": "0.5", "loud": "true"}, timeout=30)
    assert typed.status_code == 200, typed.text
    assert typed.json() == {"value": 1.5, "text": "1.5!"}
    assert typed.headers["x-knflow-run-id"]
    wrong = httpx.get(f"{url}/hooks/scale", params={"n": "three"}, timeout=30)
    assert (wrong.status_code, wrong.json()["field"]) == (422, "inputs.n")
    not_allowed = httpx.post(f"{url}/hooks/scale", json={"n": 1}, timeout=30)
    assert not_allowed.status_code == 405 and not_allowed.headers["allow"] == "GET"
    failed = httpx.post(f"{url}/hooks/explode", json={}, timeout=30)
    assert failed.status_code == 500 and failed.headers["content-type"] == "application/problem+json"
    assert failed.headers["x-knflow-run-id"] == failed.json()["workflow_run_id"]
    later = httpx.post(f"{url}/hooks/scale-later", json={"n": 2}, timeout=30)  # timeout="0": 202 at once
    assert later.status_code == 202, later.text
    assert later.headers["x-knflow-run-id"] == later.json()["workflow_run_id"]

    before = httpx.get(f"{url}/v1/workflows/scaled/deployment", timeout=10).json()
    assert before["source"] == str((project / "firsthour.py").resolve())
    other = project / "elsewhere" / "firsthour.py"
    refused = knflow(control_plane, "deploy", str(other), cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout
    assert "--replace" in refused.stderr and str(project / "firsthour.py") in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    api = httpx.post(f"{url}/v1/workflows/scaled/deploy", json={"source": str(other)}, timeout=30)
    assert (api.status_code, api.json()["field"]) == (409, "source")
    assert httpx.get(f"{url}/v1/workflows/scaled/deployment", timeout=10).json()["version"] == before["version"]
    replaced = knflow(control_plane, "deploy", str(other), "--replace", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    after = httpx.get(f"{url}/v1/workflows/scaled/deployment", timeout=10).json()
    assert after["source"] == str(other.resolve()) and after["version"] != before["version"]
    same = knflow(control_plane, "deploy", str(other), cwd=tmp_path)  # the same file again: no question
    assert same.returncode == 0, same.stderr
