"""``knflow logs RUN --follow`` against a real ``knflow dev``: output as it is written, kept when cancelled."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .processes import BIN, ControlPlane, wait_for

TICKER = """\
import time
from knflow import action, workflow


@action(timeout="120s")
def tick(n: int = 8, pause: float = 0.4) -> int:
    for i in range(n):
        print(f"line {i}", flush=True)
        time.sleep(pause)
    return n


@workflow
def ticking(n: int = 8, pause: float = 0.4):
    return tick(n=n, pause=pause)
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


def test_logs_follow_streams_a_running_steps_output_as_it_is_written(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    deploy_ticker(control_plane, tmp_path)
    run_id = start(control_plane)

    streaming = follow(control_plane, run_id, "--json")
    out, err = streaming.communicate(timeout=120)

    assert streaming.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    running = [line for line in lines if line.get("status") == "running" and line["text"]]
    # Written a line at a time while the step runs: several pieces came before it ended, in order.
    assert len(running) >= 2
    assert "".join(line.get("text", "") for line in lines) == "".join(f"line {i}\n" for i in range(8))
    assert lines[-2] == {"step": "tick", "attempt": 1, "status": "succeeded", "text": ""}
    assert lines[-1] == {"run_id": run_id, "status": "succeeded", "end": True}

    shown = follow(control_plane, run_id)  # a finished run: all of it at once, then how it ended
    text, _ = shown.communicate(timeout=60)
    assert shown.returncode == 0
    assert "tick · attempt 1" in text and "line 7" in text and f"run {run_id} ✓ succeeded" in text


def test_a_cancelled_attempts_output_is_kept(control_plane: ControlPlane, tmp_path: Path) -> None:
    deploy_ticker(control_plane, tmp_path)
    run_id = start(control_plane, "-i", "n=12", "-i", "pause=0.3")
    streaming = follow(control_plane, run_id, "--json")
    assert streaming.stdout is not None
    seen = ""
    while "line 2" not in seen:  # the step is running and has written three lines
        line = json.loads(streaming.stdout.readline())
        seen += line.get("text", "")

    cancelled = control_plane.cli("cancel", run_id)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    rest, _ = streaming.communicate(timeout=60)
    assert json.loads(rest.splitlines()[-1]) == {"run_id": run_id, "status": "cancelled", "end": True}

    def kept() -> str:
        logs = json.loads(control_plane.cli("logs", run_id, "--json").stdout)["logs"]
        [attempt] = logs
        assert attempt["status"] == "cancelled"
        return str(attempt["logs"])

    assert "line 0\nline 1\nline 2\n" in kept()  # what it had written when the run was cancelled
    # The action ran on (a thread cannot be stopped); its whole output is kept once it ends.
    assert wait_for(lambda: "line 11\n" in kept(), 60, "the cancelled attempt's whole output")
