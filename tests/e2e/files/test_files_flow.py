"""Files end to end over a real control plane and real function processes: fetch, transform, return."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tests.e2e.control_plane.processes import ControlPlane

from .conftest import Served

MiB = 1024 * 1024
INVERT = bytes(range(255, -1, -1))


def make_file(path: Path, size: int) -> str:
    """Write ``size`` pseudo-random-ish bytes to ``path`` (streamed); the SHA-256 of their inversion."""
    inverted = hashlib.sha256()
    block = hashlib.sha256(b"seed").digest() * (MiB // 32)
    with path.open("wb") as out:
        left = size
        while left:
            chunk = block[: min(left, len(block))]
            out.write(chunk)
            inverted.update(chunk.translate(INVERT))
            left -= len(chunk)
    return inverted.hexdigest()


def download_sha256(url: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with httpx.stream("GET", url, timeout=120, follow_redirects=True) as reply:
        assert reply.status_code == 200, reply.read()
        for chunk in reply.iter_bytes(MiB):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def run_filecopy(cp: ControlPlane, served: tuple[Path, Served], size: int) -> None:
    root, server = served
    name = f"source-{size}.bin"
    expected = make_file(root / name, size)
    reply = httpx.post(f"{cp.url}/hooks/filecopy", json={"url": server.url(name)}, timeout=600)
    assert reply.status_code == 200, reply.text
    run_id = reply.headers["x-knflow-run-id"]
    result = reply.json()["inverted"]["knflow.file"]
    assert result["size"] == size and result["name"] == f"inverted-{name}"

    run = httpx.get(f"{cp.url}/v1/runs/{run_id}", timeout=30).json()
    assert run["status"] == "succeeded"
    link = run["result"]["inverted"]["knflow.file"]["url"]  # a download link in the result
    assert download_sha256(link) == (expected, size)

    listed = httpx.get(f"{cp.url}/v1/runs/{run_id}/files", timeout=30).json()
    files = {f["step"]: f for f in listed["files"]}
    assert set(files) == {"fetch", "invert"} and listed["expired"] is False
    assert files["fetch"]["size"] == size and files["fetch"]["name"] == name
    assert (files["invert"]["run_id"], files["invert"]["attempt"], files["invert"]["field"]) == (run_id, 1, "result")
    assert files["invert"]["content_type"] == "application/x-inverted"
    assert files["invert"]["key"] == result["key"]
    # The API's own download path redirects to a presigned URL.
    assert download_sha256(f"{cp.url}/v1/runs/{run_id}/files/{result['key']}") == (expected, size)


@pytest.mark.parametrize("size", [0, 10 * MiB])
def test_a_file_is_fetched_transformed_and_returned(
    files_plane: ControlPlane, served: tuple[Path, Served], size: int
) -> None:
    run_filecopy(files_plane, served, size)


def test_a_200_mib_file_streams_through(files_plane: ControlPlane, served: tuple[Path, Served]) -> None:
    run_filecopy(files_plane, served, 200 * MiB)


def test_files_nested_in_lists_and_dicts_travel_by_reference(files_plane: ControlPlane) -> None:
    url = files_plane.url
    refs = [
        httpx.post(f"{url}/v1/files", params={"name": f"f{i}.txt"}, content=f"file {i}".encode(), timeout=30).json()[
            "file"
        ]
        for i in range(3)
    ]
    reply = httpx.post(
        f"{url}/v1/runs", params={"wait": 60}, json={"workflow": "bundle", "inputs": {"files": refs}}, timeout=90
    )
    run = reply.json()
    assert run["status"] == "succeeded", run
    made = run["result"]["bundle"]["files"]
    assert [m["knflow.file"]["name"] for m in made] == ["rev-f0.txt", "rev-f1.txt", "rev-f2.txt"]
    assert httpx.get(made[2]["knflow.file"]["url"], timeout=30).content == b"2 elif"
    listed = httpx.get(f"{url}/v1/runs/{run['id']}/files", timeout=30).json()["files"]
    fields = sorted(f["field"] for f in listed)
    # The three uploads the inputs name, and the three files the step wrote, each where it sits.
    assert fields == ["bundle.files[0]", "bundle.files[1]", "bundle.files[2]", "file", "file", "file"]


def test_multipart_workflow_inputs_through_an_http_trigger(files_plane: ControlPlane) -> None:
    reply = httpx.post(
        f"{files_plane.url}/hooks/invert", files={"data": ("hello.txt", b"hello", "text/plain")}, timeout=120
    )
    assert reply.status_code == 200, reply.text
    inverted = reply.json()["inverted"]["knflow.file"]
    assert inverted["name"] == "inverted-hello.txt"
    assert httpx.get(inverted["url"], timeout=30).content == b"hello".translate(INVERT)


def test_multipart_workflow_inputs_through_the_api(files_plane: ControlPlane) -> None:
    reply = httpx.post(
        f"{files_plane.url}/v1/workflows/measure/runs",
        params={"wait": 60},
        files={"data": ("blob.bin", b"\0" * 3000, "application/octet-stream")},
        timeout=90,
    )
    assert reply.status_code == 201, reply.text
    run = reply.json()
    assert run["status"] == "succeeded" and run["result"] == 3000
    listed = httpx.get(f"{files_plane.url}/v1/runs/{run['id']}/files", timeout=30).json()["files"]
    assert [(f["name"], f["size"], f["field"], f["step"]) for f in listed] == [("blob.bin", 3000, "data", None)]


def test_large_outputs_and_logs_are_offloaded_and_fetched_back(files_plane: ControlPlane) -> None:
    url = files_plane.url
    run = httpx.post(
        f"{url}/v1/runs", params={"wait": 60}, json={"workflow": "chatty", "inputs": {"lines": 2000}}, timeout=90
    ).json()
    assert run["status"] == "succeeded", run
    assert run["result"]["numbers"] == list(range(20000))
    assert run["result"]["total"] == sum(range(20000))
    step = next(s for s in run["steps"] if s["name"] == "chatter")
    assert step["outputs"]["numbers"][-1] == 19999 and step["outputs"]["small"] == 1
    assert step["attempts"][0]["logs"].count("\n") == 2000
    logs = httpx.get(f"{url}/v1/runs/{run['id']}/logs", timeout=30).json()["logs"]
    assert logs[0]["logs"].startswith("line 0 ")
    # They were kept in the object store (the local store's folder), not in the run record.
    kept = sorted(p.name for p in (files_plane.state_dir / "objects" / "data" / "payloads").rglob("*.*"))
    assert kept == ["logs.txt", "numbers.json"]


def test_large_workflow_inputs_are_offloaded_through_the_api_and_an_http_trigger(files_plane: ControlPlane) -> None:
    url, numbers = files_plane.url, list(range(30000))  # ~170 KiB of JSON, over the 64 KiB threshold here
    run = httpx.post(
        f"{url}/v1/runs", params={"wait": 60}, json={"workflow": "summed", "inputs": {"numbers": numbers}}, timeout=90
    ).json()
    assert run["status"] == "succeeded", run
    assert run["result"] == sum(numbers)
    assert run["inputs"]["numbers"] == numbers  # fetched back for the API
    assert run["steps"][0]["attempts"][0]["inputs"]["numbers"] == numbers
    reply = httpx.post(f"{url}/hooks/sum", json={"numbers": numbers}, timeout=90)
    assert reply.status_code == 200, reply.text
    assert reply.json() == sum(numbers)
    kept = files_plane.state_dir / "objects" / "data" / "payloads"
    for run_id in (run["id"], reply.headers["x-knflow-run-id"]):
        assert (kept / run_id / "inputs" / "numbers.json").exists(), sorted(kept.rglob("*"))
