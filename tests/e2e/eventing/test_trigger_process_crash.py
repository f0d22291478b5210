"""A custom trigger's process dies with its control plane: after a crash (SIGKILL) and a restart exactly
one runs, not the old one beside the new."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from tests.e2e.control_plane.processes import ControlPlane, wait_for

FLOWS = Path(__file__).parent / "flows"


def trigger_processes(root: Path) -> set[int]:
    """Pids of the ``knflow_runtime.source`` processes running code from under ``root``."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and b"knflow_runtime.source" in argv and any(str(root).encode() in a for a in argv):
            found.add(int(proc.name))
    return found


def test_the_trigger_process_dies_with_a_crashed_control_plane(tmp_path: Path) -> None:
    shutil.copy(FLOWS / "counter.py", tmp_path / "counter.py")
    plane = ControlPlane(tmp_path / ".knflow", env={"KNFLOW_POLL_INTERVAL": "0.2"}).start()
    try:
        deployed = plane.cli("deploy", str(tmp_path / "counter.py"))
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        [first] = wait_for(lambda: trigger_processes(tmp_path), 60, "the trigger's process")
        plane.kill()
        wait_for(lambda: first not in trigger_processes(tmp_path), 30, "the old trigger process to end")
        plane.start()
        second = wait_for(lambda: trigger_processes(tmp_path), 60, "the trigger's new process")
        assert len(second) == 1 and first not in second
        assert httpx.get(f"{plane.url}/health/readiness").status_code == 200
    finally:
        plane.stop()
    assert wait_for(lambda: not trigger_processes(tmp_path), 30, "every trigger process to end after a stop")
