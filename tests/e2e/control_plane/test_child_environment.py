"""User code runs with an allowlisted environment plus what it declares: a function and a custom trigger
under a real ``knflow dev`` never see the control plane's credentials (database, S3, URL signing,
bootstrap key), nor anything else of its environment that is not on the allowlist."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.control_plane.processes import ControlPlane, wait_for

FLOWS = Path(__file__).parent / "flows"
PLANE_SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "PGPASSWORD": "pg-secret",
    "KNFLOW_BOOTSTRAP_KEY": "knf_bootstrap-secret",
    "KNFLOW_OBJECT_URL_SECRET": "url-signing-secret",
    "SOME_PLANE_TOKEN": "token",
}


def the_run(url: str) -> dict[str, Any]:
    def look() -> dict[str, Any] | None:
        runs = httpx.get(f"{url}/v1/runs", params={"workflow": "environment"}).json()["runs"]
        return runs[0] if runs and runs[0]["status"] != "running" else None

    return dict(wait_for(look, 90, "the run of environment"))


def test_functions_and_triggers_get_only_the_allowlist_and_their_declared_env(tmp_path: Path) -> None:
    shutil.copy(FLOWS / "environment.py", tmp_path / "environment.py")
    env = {**PLANE_SECRETS, "LANG": "C.UTF-8", "TZ": "Europe/Paris", "KNFLOW_POLL_INTERVAL": "0.2"}
    plane = ControlPlane(tmp_path / ".knflow", env=env).start()
    try:
        deployed = plane.cli("deploy", str(tmp_path / "environment.py"))
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        run = the_run(plane.url)
        assert run["status"] == "succeeded", run
        for who in ("trigger", "function"):
            seen = run["result"][who]
            assert not set(PLANE_SECRETS) & set(seen), (who, seen)
            assert seen["LANG"] == "C.UTF-8" and seen["TZ"] == "Europe/Paris" and seen["PATH"], (who, seen)
        assert run["result"]["trigger"]["DECLARED"] == "by-the-trigger"
        assert run["result"]["function"]["DECLARED"] == "by-the-action"
    finally:
        plane.stop()
