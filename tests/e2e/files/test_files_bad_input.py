"""Bad file input gets a clear error naming the step and the input (or output), never a traceback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.control_plane.processes import ControlPlane

from .conftest import deploy

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def strict_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """Files of at most 1 MiB, presigned URLs that live 5 s."""
    tmp = tmp_path_factory.mktemp("strict")
    env = {"KNFLOW_MAX_FILE_BYTES": str(MiB), "KNFLOW_OBJECT_URL_TTL": "5", "KNFLOW_POLL_INTERVAL": "0.2"}
    cp = ControlPlane(tmp / ".knflow", env=env).start()
    try:
        deploy(cp, tmp)
        yield cp
    finally:
        cp.stop()


def run(cp: ControlPlane, workflow: str, inputs: dict[str, Any]) -> dict[str, Any]:
    reply = httpx.post(
        f"{cp.url}/v1/runs", params={"wait": 60}, json={"workflow": workflow, "inputs": inputs}, timeout=90
    )
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


def test_a_file_the_project_does_not_hold_is_refused_naming_the_input(strict_plane: ControlPlane) -> None:
    ghost = {"knflow.file": {"key": "uploads/0000/ghost.bin", "name": "ghost.bin", "content_type": "x/y", "size": 1}}
    url = strict_plane.url
    before = httpx.get(f"{url}/v1/runs", params={"limit": 500}, timeout=30).json()["runs"]
    for reply in (
        httpx.post(f"{url}/v1/runs", json={"workflow": "measure", "inputs": {"data": ghost}}, timeout=30),
        httpx.post(f"{url}/hooks/invert", json={"data": ghost}, timeout=30),
        httpx.post(f"{url}/v1/runs", json={"workflow": "bundle", "inputs": {"files": [ghost]}}, timeout=30),
    ):
        assert reply.status_code == 422, reply.text
        assert reply.headers["content-type"] == "application/problem+json"
        problem = reply.json()
        assert problem["field"] in ("inputs.data", "inputs.files[0]"), problem
        assert problem["detail"].endswith("file 'uploads/0000/ghost.bin' not found"), problem
    after = httpx.get(f"{url}/v1/runs", params={"limit": 500}, timeout=30).json()["runs"]
    assert after == before  # refused, not stored


def test_a_value_that_is_not_a_file_is_refused_naming_the_input(strict_plane: ControlPlane) -> None:
    url = strict_plane.url
    for reply in (
        httpx.post(f"{url}/v1/runs", json={"workflow": "measure", "inputs": {"data": "hello"}}, timeout=30),
        httpx.post(f"{url}/hooks/invert", json={"data": 3}, timeout=30),
        httpx.post(f"{url}/v1/runs", json={"workflow": "bundle", "inputs": {"files": [{"key": "x"}]}}, timeout=30),
    ):
        assert reply.status_code == 422, reply.text
        assert reply.headers["content-type"] == "application/problem+json"
        problem = reply.json()
        assert problem["field"] in ("inputs.data", "inputs.files")
        assert "expected a File" in problem["detail"]


def test_an_expired_url_is_refused(strict_plane: ControlPlane) -> None:
    url = strict_plane.url
    ref = httpx.post(f"{url}/v1/files", params={"name": "one.txt"}, content=b"1", timeout=30).json()["file"]
    done = run(strict_plane, "measure", {"data": ref})
    assert done["status"] == "succeeded" and done["result"] == 1
    link = httpx.get(f"{url}/v1/runs/{done['id']}/files", timeout=30).json()["files"][0]["url"]
    assert httpx.get(link, timeout=30).content == b"1"
    tampered = link.replace("one.txt", "two.txt")
    assert httpx.get(tampered, timeout=30).status_code == 403
    time.sleep(6)
    refused = httpx.get(link, timeout=30)
    assert refused.status_code == 403 and refused.json()["title"] == "The signed URL has expired."

    # A function whose upload URL expired before it wrote its file: the step fails naming the output.
    late = run(strict_plane, "late", {"seconds": 7})
    assert late["status"] == "failed"
    error = late["error"]
    assert error["step"] == "slow_writer" and error["type"] == "knflow_runtime.errors.FileTransferError"
    assert "cannot upload output 'result'" in error["message"] and "expired" in error["message"]
    assert "sig=" not in error["message"]  # a presigned URL's signature never lands in run records


def test_files_over_the_size_limit_are_refused(strict_plane: ControlPlane) -> None:
    url = strict_plane.url
    big = run(strict_plane, "big", {"size": 2 * MiB})
    assert big["status"] == "failed"
    error = big["error"]
    assert (error["step"], error["type"], error["retryable"]) == ("big_writer", "OutputError", False)
    assert error["message"].startswith("output 'result': the file is too large for the object store: 2097152 bytes")
    assert httpx.get(f"{url}/v1/runs/{big['id']}/files", timeout=30).json()["files"] == []

    too_big = b"x" * (MiB + 1)
    for reply, field in (
        (httpx.post(f"{url}/v1/files", params={"name": "b.bin"}, content=too_big, timeout=30), "body"),
        (httpx.post(f"{url}/hooks/invert", files={"data": ("b.bin", too_big)}, timeout=30), "body"),
    ):
        assert reply.status_code == 413, reply.text
        assert reply.json()["field"] == field


def test_a_download_of_an_unknown_file_is_a_problem(strict_plane: ControlPlane, tmp_path: Path) -> None:
    reply = httpx.get(f"{strict_plane.url}/v1/runs/nope/files/uploads/x/y.bin", timeout=30)
    assert reply.status_code == 404 and reply.json()["field"] == "run_id"  # no such run: no link of any kind
    ref = httpx.post(f"{strict_plane.url}/v1/files", params={"name": "z.bin"}, content=b"z", timeout=30).json()["file"]
    existing = run(strict_plane, "measure", {"data": ref})["id"]
    reply = httpx.get(f"{strict_plane.url}/v1/runs/{existing}/files/uploads/x/y.bin", timeout=30)
    assert reply.status_code == 404 and reply.json()["field"] == "key"
    assert httpx.get(f"{strict_plane.url}/v1/runs/nope/files", timeout=30).json()["field"] == "run_id"
