"""Retention: run files past their age are deleted; the run record and the files listing say so."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.control_plane.processes import ControlPlane, wait_for

from .conftest import deploy


def test_old_files_are_deleted_and_the_run_says_they_expired(tmp_path: Path) -> None:
    # Files live about 2 s here (2.5e-5 days); the policy sweeps every quarter of that.
    env = {"KNFLOW_FILE_RETENTION_DAYS": "0.000025", "KNFLOW_POLL_INTERVAL": "0.2"}
    cp = ControlPlane(tmp_path / ".knflow", env=env).start()
    try:
        deploy(cp, tmp_path)
        reply = httpx.post(
            f"{cp.url}/v1/runs", params={"wait": 60}, json={"workflow": "big", "inputs": {"size": 10}}, timeout=90
        )
        run = reply.json()
        assert run["status"] == "succeeded" and run["files"] == {"count": 1, "expired_at": None}
        ref = run["result"]["result"]

        def expired() -> dict[str, object] | None:
            listed: dict[str, object] = httpx.get(f"{cp.url}/v1/runs/{run['id']}/files", timeout=10).json()
            return listed if listed["expired"] else None

        listed = wait_for(expired, 60, "the retention policy")
        [file] = listed["files"]
        assert file["url"] is None and file["expired_at"] is not None and file["size"] == 10
        again = httpx.get(f"{cp.url}/v1/runs/{run['id']}", timeout=10).json()
        assert again["status"] == "succeeded" and again["files"]["expired_at"] == file["expired_at"]
        gone = httpx.get(f"{cp.url}/v1/runs/{run['id']}/files/{file['key']}", timeout=10)
        assert gone.status_code == 404 and gone.json()["expired"] is True

        # A run that needs the expired file fails, naming the step, the input and why.
        ref["knflow.file"].pop("url")
        later = httpx.post(
            f"{cp.url}/v1/runs", params={"wait": 60}, json={"workflow": "measure", "inputs": {"data": ref}}, timeout=90
        ).json()
        assert later["status"] == "failed"
        assert later["error"]["message"].startswith(f"step 'size_of' input 'data': file '{file['key']}' was deleted")
    finally:
        cp.stop()
