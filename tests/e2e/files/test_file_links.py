"""A download link is signed only for a file of a run that exists in the caller's project: an uploaded
file's key does not buy a link through a run id made up, or through a run that does not name it."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.control_plane.processes import ControlPlane


def test_no_link_for_a_run_that_does_not_exist_or_does_not_hold_the_file(tmp_path: Path) -> None:
    cp = ControlPlane(tmp_path / ".knflow").start()
    try:
        uploaded = httpx.post(
            f"{cp.url}/v1/files",
            params={"name": "secret.txt"},
            content=b"s3cr3t",
            headers={"content-type": "text/plain"},
        )
        assert uploaded.status_code == 201, uploaded.text
        key = uploaded.json()["file"]["knflow.file"]["key"]
        for run_id in ("no-such-run", "0" * 28):
            reply = httpx.get(f"{cp.url}/v1/runs/{run_id}/files/{key}", follow_redirects=False)
            assert reply.status_code == 404, reply.text
            assert reply.json()["field"] == "run_id"
            assert "location" not in reply.headers
    finally:
        cp.stop()
