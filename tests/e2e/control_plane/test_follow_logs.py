"""``knflow logs RUN --follow`` against a real ``knflow dev``: output as it is written, kept when cancelled."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .processes import BIN, ControlPlane, wait_for

# Each line waits for the test to open its gate (a file ``{gate}.{i}``): the stream is checked step by
# step, whatever the machine's speed, with no timing in the test.
TICKER = """\
import os
import time
from knflow import action, workflow


@action(timeout="300s")
def tick(gate: str, n: int = 4) -> int:
    for i in range(n):
        print(f"line {i}", flush=True)
        while not os.path.exists(f"{gate}.{i}"):
            time.sleep(0.02)
    return n


@workflow
def ticking(gate: str, n: int = 4):
    return tick(gate=gate, n=n)
"""


def deploy_ticker(cp: ControlPlane, tmp: Path) -> None:
    folder = tmp / "project"
    folder.mkdir()
    (folder / "ticker.py").write_text(TICKER)
    assert cp.cli("deploy", str(folder / "ticker.py")).returncode == 0


def start(cp: ControlPlane, *inputs: str) -> str:
    started = cp.cli("run", "ticking", *inputs, "--no-wait", "--json")
    assert started.returncode == 0, started.stderr
    return str(json.loads(started.stdout)["id"])


def follow(cp: ControlPlane, run_id: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "knflow"), "logs", run_id, "--follow", *extra, "--url", cp.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cp.state_dir.parent,
    )


def next_output(streaming: subprocess.Popen[str]) -> dict[str, object]:
    """The next line of ``--follow --json`` that carries output (a step that started before printing
    anything gets a line of its status alone first)."""
    assert streaming.stdout is not None
    while True:
        line = json.loads(streaming.stdout.readline())
        if line.get("text") or line.get("end"):
            return dict(line)


def test_logs_follow_streams_a_running_steps_output_as_it_is_written(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    deploy_ticker(control_plane, tmp_path)
    gate = tmp_path / "gate"
    run_id = start(control_plane, "-i", f"gate={gate}")
    streaming = follow(control_plane, run_id, "--json")
    assert streaming.stdout is not None

    for i in range(4):  # each line arrives while the step runs and waits for the next gate
        line = next_output(streaming)
        assert line == {"step": "tick", "attempt": 1, "status": "running", "text": f"line {i}\n"}
        Path(f"{gate}.{i}").touch()
    rest, err = streaming.communicate(timeout=120)

    assert streaming.returncode == 0, err
    assert [json.loads(line) for line in rest.splitlines()] == [
        {"step": "tick", "attempt": 1, "status": "succeeded", "text": ""},
        {"run_id": run_id, "status": "succeeded", "end": True},
    ]
    shown = follow(control_plane, run_id)  # a finished run: all of it at once, then how it ended
    text, _ = shown.communicate(timeout=60)
    assert shown.returncode == 0
    assert "tick · attempt 1" in text and "line 3" in text and f"run {run_id} ✓ succeeded" in text


def test_a_cancelled_attempts_output_is_kept(control_plane: ControlPlane, tmp_path: Path) -> None:
    deploy_ticker(control_plane, tmp_path)
    gate = tmp_path / "gate"
    run_id = start(control_plane, "-i", f"gate={gate}")
    streaming = follow(control_plane, run_id, "--json")
    assert streaming.stdout is not None
    for i in range(2):
        assert next_output(streaming)["text"] == f"line {i}\n"
        Path(f"{gate}.{i}").touch()
    assert next_output(streaming)["text"] == "line 2\n"  # the step now waits at gate 2

    cancelled = control_plane.cli("cancel", run_id)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    rest, _ = streaming.communicate(timeout=60)
    assert json.loads(rest.splitlines()[-1]) == {"run_id": run_id, "status": "cancelled", "end": True}

    def kept() -> str:
        logs = json.loads(control_plane.cli("logs", run_id, "--json").stdout)["logs"]
        [attempt] = logs
        assert attempt["status"] == "cancelled"
        return str(attempt["logs"])

    assert kept() == "line 0\nline 1\nline 2\n"  # what it had written when the run was cancelled
    # The action runs on (a thread cannot be stopped); its whole output is kept once it returns.
    Path(f"{gate}.2").touch()
    Path(f"{gate}.3").touch()
    assert wait_for(lambda: kept() == "line 0\nline 1\nline 2\nline 3\n", 60, "the cancelled attempt's whole output")
