"""The same file flow with the control plane on S3 (the moto server of scripts/services/s3.sh): functions
read and write S3 directly through SigV4 presigned URLs; the control plane holds the only credentials."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx

from tests.e2e.control_plane.processes import ControlPlane
from tests.integration.objects.s3_service import s3_endpoint

from .conftest import Served, deploy
from .test_files_flow import MiB, download_sha256, make_file


def test_a_file_flow_on_s3(tmp_path: Path, served: tuple[Path, Served]) -> None:
    endpoint = s3_endpoint()
    env = {
        "KNFLOW_OBJECT_STORE": f"s3://knflow-e2e-{secrets.token_hex(4)}/runs-here",
        "KNFLOW_S3_ENDPOINT": endpoint,
        "KNFLOW_S3_ACCESS_KEY": "test",
        "KNFLOW_S3_SECRET_KEY": "test",
        "KNFLOW_S3_CREATE_BUCKET": "true",
        "KNFLOW_POLL_INTERVAL": "0.2",
    }
    cp = ControlPlane(tmp_path / ".knflow", env=env).start()
    try:
        deploy(cp, tmp_path)
        root, server = served
        expected = make_file(root / "s3.bin", 10 * MiB)
        reply = httpx.post(f"{cp.url}/hooks/filecopy", json={"url": server.url("s3.bin")}, timeout=300)
        assert reply.status_code == 200, reply.text
        inverted = reply.json()["inverted"]["knflow.file"]
        assert inverted["url"].startswith(endpoint) and "X-Amz-Signature=" in inverted["url"]
        assert download_sha256(inverted["url"]) == (expected, 10 * MiB)
        run_id = reply.headers["x-knflow-run-id"]
        listed = httpx.get(f"{cp.url}/v1/runs/{run_id}/files", timeout=30).json()["files"]
        assert sorted(f["step"] for f in listed) == ["fetch", "invert"]
        assert all(f["size"] == 10 * MiB for f in listed)
        # The local store's URL app has nothing to serve here.
        assert httpx.get(f"{cp.url}/v1/objects/x", timeout=10).status_code == 404
    finally:
        cp.stop()
