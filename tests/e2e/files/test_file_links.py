"""A download link is signed only for a file of a run that exists in the caller's project: an uploaded
file's key does not buy a link through a run id made up, or through a run that does not name it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from knflow_control_plane.adapters.objects.local import LocalObjectStore
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


def test_a_file_changed_after_it_was_recorded_gets_no_link(files_plane: ControlPlane) -> None:
    url = files_plane.url
    uploaded = httpx.post(f"{url}/v1/files", params={"name": "a.bin"}, content=b"recorded content")
    ref = uploaded.json()["file"]
    key = ref["knflow.file"]["key"]
    started = httpx.post(
        f"{url}/v1/runs", params={"wait": 60}, json={"workflow": "measure", "inputs": {"data": ref}}, timeout=90
    )
    assert started.status_code == 201 and started.json()["status"] == "succeeded", started.text
    run_id = started.json()["id"]
    assert httpx.get(f"{url}/v1/runs/{run_id}/files/{key}").status_code == 307

    # Behind knflow's back (a store write that did not go through an upload slot): the record no longer holds.
    store = LocalObjectStore(files_plane.state_dir / "objects", url, b"x" * 32)
    asyncio.run(store.put(key, b"something else, longer than before"))
    changed = httpx.get(f"{url}/v1/runs/{run_id}/files/{key}")
    assert changed.status_code == 409, changed.text
    assert changed.json()["field"] == "key" and "changed" in changed.json()["detail"]
