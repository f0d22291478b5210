"""``make demo`` next to a control plane it did not start: it starts its own on a free port instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from .newcomer import ROOT, Dev, free_port, newcomer_env


def test_the_demo_never_uses_a_control_plane_it_did_not_start(tmp_path: Path) -> None:
    port = free_port()
    foreign = Dev(tmp_path / "someone-else", port).start()
    try:
        demo = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "demo.py"), "--port", str(port)],
            cwd=tmp_path,
            env=newcomer_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        workflows = httpx.get(f"{foreign.url}/v1/workflows", timeout=10).json()
    finally:
        foreign.stop()
    assert demo.returncode == 0, demo.stdout + demo.stderr
    said = demo.stdout
    assert f"port {port} is taken (another knflow dev?): the demo starts its own control plane on port " in said
    own = int(said.split("on port ", 1)[1].split()[0])
    assert own != port and f"control plane ready at http://127.0.0.1:{own}" in said
    assert "POST /hooks/pipeline -> HTTP 200" in said and "succeeded" in said
    assert workflows == {"workflows": []}  # nothing was deployed there
    assert "deployed" not in foreign.stdout() and "run " not in foreign.stdout()
