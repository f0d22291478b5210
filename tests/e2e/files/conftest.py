from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.control_plane.processes import ControlPlane

FLOWS = Path(__file__).resolve().parent / "flows"


def deploy(cp: ControlPlane, tmp: Path) -> None:
    """Deploy every workflow of ``flows/filecopy.py`` with the CLI, as a user would."""
    project = tmp / "project"
    if not project.exists():
        shutil.copytree(FLOWS, project, ignore=shutil.ignore_patterns("__pycache__"))
    deployed = cp.cli("deploy", str(project / "filecopy.py"), "--json", timeout=300)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert all(d["status"] == "ready" for d in json.loads(deployed.stdout)["deployments"]), deployed.stdout


class Served:
    """A loopback HTTP server over one folder: where the ``fetch`` action downloads its file from."""

    def __init__(self, root: Path) -> None:
        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, Served]]:
    root = tmp_path / "served"
    root.mkdir()
    server = Served(root)
    yield root, server
    server.close()


@pytest.fixture
def files_plane(tmp_path: Path) -> Iterator[ControlPlane]:
    """A control plane with the files workflows deployed (payloads offloaded past 64 KiB)."""
    env = {"KNFLOW_LEASE_SECONDS": "5", "KNFLOW_POLL_INTERVAL": "0.2", "KNFLOW_PAYLOAD_THRESHOLD": "65536"}
    cp = ControlPlane(tmp_path / ".knflow", env=env).start()
    try:
        deploy(cp, tmp_path)
        yield cp
    finally:
        cp.stop()
