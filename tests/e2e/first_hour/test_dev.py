"""``knflow dev`` as a person meets it: the default relative state dir, what it prints, a taken port,
Ctrl-C once (drain) and twice (at once), a hook caller waiting when it stops."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx

from .newcomer import Dev, crashed, free_port, shell, wait_until

COUNTING = """
from knflow import action, http_trigger, workflow


@action
def extract(text: str) -> dict:
    return {"words": text.split()}


@action
def count(words: list) -> dict:
    return {"n": len(words)}


@workflow(triggers=[http_trigger(path="/count", timeout="30s")])
def counting(text: str):
    return count(words=extract(text=text)["words"])["n"]
"""

NAPPING = """
import time

from knflow import action, http_trigger, workflow


@action(timeout="60s")
def nap(seconds: float) -> dict:
    time.sleep(seconds)
    return {"slept": seconds}


@workflow(triggers=[http_trigger(path="/nap", timeout="60s")])
def napping(seconds: float):
    return nap(seconds=seconds)["slept"]
"""


def project(folder: Path, name: str, code: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(code)
    return folder


def deploy(dev: Dev, folder: Path, file: str) -> None:
    result = shell(f"knflow deploy {file} --url {dev.url}", folder)
    assert result.returncode == 0, result.stdout + result.stderr


def count_over_http(dev: Dev) -> httpx.Response:
    return httpx.post(f"{dev.url}/hooks/count", json={"text": "to be or not to be"}, timeout=60)


def test_the_default_relative_state_dir_deploys_and_serves_over_http(tmp_path: Path) -> None:
    """The README's failure: a relative state dir, a code path the function could not resolve."""
    folder = project(tmp_path / "fresh", "counting.py", COUNTING)
    dev = Dev(folder, free_port()).start()  # no --state-dir: ./.knflow
    try:
        deploy(dev, folder, "counting.py")
        reply = count_over_http(dev)
        assert reply.status_code == 200 and reply.json() == 6, reply.text
    finally:
        dev.stop()
    stored = _artifacts(folder / ".knflow" / "knflow.db")
    assert stored and all(Path(a["code_path"]).is_absolute() for a in stored)
    assert all(Path(a["code_path"]).is_relative_to(folder / ".knflow") for a in stored)


def test_a_build_stored_with_a_relative_code_path_is_repaired(tmp_path: Path) -> None:
    """What earlier releases stored (``.knflow/builds/code/...``): rebuilt on use, stored absolute again.

    The stored paths are made relative under the current schema (the migration that forgets them is
    tested on its own in tests/integration/test_migration_absolute_artifacts.py; rewinding the schema
    version here would replay every later migration on a schema that already has them).
    """
    folder = project(tmp_path / "old", "counting.py", COUNTING)
    port = free_port()
    dev = Dev(folder, port).start()
    try:
        deploy(dev, folder, "counting.py")
    finally:
        dev.stop()
    database = folder / ".knflow" / "knflow.db"
    relative = "substr(json_extract(artifact, '$.code_path'), ?)"
    with sqlite3.connect(database) as conn:  # as stored before
        conn.execute(
            f"UPDATE action_versions SET artifact = json_set(artifact, '$.code_path', {relative})",
            (len(str(folder)) + 2,),
        )
    assert all(a["code_path"].startswith(".knflow/builds/code/") for a in _artifacts(database))
    dev = Dev(folder, port).start()
    try:
        reply = count_over_http(dev)
        assert reply.status_code == 200 and reply.json() == 6, reply.text
    finally:
        dev.stop()
    assert all(Path(a["code_path"]).is_absolute() for a in _artifacts(database))


def _artifacts(database: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT artifact FROM action_versions WHERE artifact IS NOT NULL").fetchall()
    return [json.loads(row[0]) for row in rows]


def test_it_says_where_it_listens_keeps_state_and_each_deploy_and_run(tmp_path: Path) -> None:
    folder = project(tmp_path / "chatty", "counting.py", COUNTING)
    dev = Dev(folder, free_port()).start()
    try:
        deploy(dev, folder, "counting.py")
        run_id = count_over_http(dev).headers["x-knflow-run-id"]
        wait_until(lambda: "counting succeeded" in dev.stdout(), 30, "the run's end line")
        dev.interrupt()
        assert dev.wait() == 0
    finally:
        dev.stop()
    lines = dev.stdout().splitlines()
    assert lines[0] == f"knflow dev: listening on {dev.url} (API docs: {dev.url}/docs)"
    assert lines[1].startswith(f"knflow dev: state in {folder / '.knflow'} ")
    assert any(line.endswith("deployed counting (" + line.rsplit("(", 1)[-1]) for line in lines)
    assert any(f"run {run_id} counting started" in line for line in lines)
    assert any(f"run {run_id} counting succeeded in " in line for line in lines)
    assert lines[-2:] == ["knflow dev: stopping", "knflow dev: stopped"]
    assert "alembic" not in dev.stderr() and not crashed(dev.stderr())


def test_a_taken_port_is_one_line_and_exit_status_4(tmp_path: Path) -> None:
    port = free_port()
    first = Dev(tmp_path / "first", port).start()
    try:
        second = shell(f"knflow dev --port {port}", project(tmp_path / "second", "x.py", ""))
    finally:
        first.stop()
    assert second.returncode == 4
    assert second.stderr == (
        f"error: cannot listen on 127.0.0.1:{port}: the address is in use (another `knflow dev`?); "
        "stop it or choose another port with --port\n"
    )
    assert second.stdout == "" and not (tmp_path / "second" / ".knflow").exists()  # nothing started


def _waiting_hook(dev: Dev) -> tuple[threading.Thread, dict[str, httpx.Response]]:
    """A caller of /hooks/nap waiting for its 3 s run, once the step runs."""
    replies: dict[str, httpx.Response] = {}

    def call() -> None:
        replies["nap"] = httpx.post(f"{dev.url}/hooks/nap", json={"seconds": 3}, timeout=60)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: "napping started" in dev.stdout(), 30, "the run to start")
    return caller, replies


def test_one_ctrl_c_drains_the_running_step_and_answers_the_waiting_caller_503(tmp_path: Path) -> None:
    folder = project(tmp_path / "drain", "napping.py", NAPPING)
    dev = Dev(folder, free_port()).start()
    try:
        deploy(dev, folder, "napping.py")
        caller, replies = _waiting_hook(dev)
        dev.interrupt()
        caller.join(60)
        assert dev.wait() == 0
    finally:
        dev.stop()
    reply = replies["nap"]
    problem = reply.json()
    assert reply.status_code == 503 and reply.headers["content-type"] == "application/problem+json"
    assert problem["status"] == 503 and problem["workflow_run_id"] in problem["detail"]
    assert reply.headers["x-knflow-run-id"] == problem["workflow_run_id"]
    said = dev.stdout()
    assert "knflow dev: stopping, waiting up to " in said and " s for 1 step still running (Ctrl-C again" in said
    assert f"run {problem['workflow_run_id']} napping succeeded" in said  # the step finished while draining
    assert said.endswith("knflow dev: stopped\n") and not crashed(dev.stderr())


def test_two_ctrl_c_stop_at_once_without_a_traceback_and_the_run_resumes(tmp_path: Path) -> None:
    folder = project(tmp_path / "hurry", "napping.py", NAPPING)
    port = free_port()
    dev = Dev(folder, port).start()
    try:
        deploy(dev, folder, "napping.py")
        caller, replies = _waiting_hook(dev)
        dev.interrupt()
        wait_until(lambda: "knflow dev: stopping" in dev.stdout(), 30, "the drain to start")
        dev.interrupt()
        assert dev.wait() == 130
        caller.join(60)
    finally:
        dev.stop()
    run_id = replies["nap"].json()["workflow_run_id"]
    said = dev.stdout()
    assert said.endswith("knflow dev: stopped at once; steps that were running are retried at the next start\n")
    assert f"run {run_id} napping succeeded" not in said
    assert not crashed(dev.stderr()) and "KeyboardInterrupt" not in dev.stderr()
    again = Dev(folder, port).start()
    try:  # the abandoned step runs again once its lease expires
        wait_until(lambda: f"run {run_id} succeeded" in again.stdout(), 90, "the run to resume")
        assert httpx.get(f"{again.url}/v1/runs/{run_id}", timeout=10).json()["status"] == "succeeded"
    finally:
        again.stop()


def test_a_setting_naming_nothing_known_or_a_state_dir_it_cannot_write_is_one_line(tmp_path: Path) -> None:
    folder = project(tmp_path / "typos", "x.py", "")
    port = free_port()
    cases = {
        f"KNFLOW_BACKEND=knativ knflow dev --port {port}": "error: cannot start: unknown backend 'knativ'",
        f"knflow dev --port {port} --state-dir /proc/knflow": "error: cannot keep state in /proc/knflow: ",
    }
    for command, said in cases.items():
        result = shell(command, folder, timeout=60)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert result.stderr.startswith(said) and result.stderr.count("\n") == 1, (command, result.stderr)
        assert not crashed(result.stderr) and result.stdout == ""
