"""Body limits are chosen by route, not by a header: only upload routes take (and stream) large bodies.

A 150 MB body sent as ``multipart/form-data`` to ``/v1/events`` is refused with 413 once the JSON limit
is passed, and the control plane's memory stays where it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.control_plane.processes import ControlPlane

MiB = 1024 * 1024
BIG = 150 * MiB
MULTIPART = "multipart/form-data; boundary=xyz"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path_factory.mktemp("limits") / ".knflow").start()
    yield cp
    cp.stop()


def peak_rss(cp: ControlPlane) -> int:
    """The control plane's peak resident memory (``VmHWM``), in bytes."""
    assert cp.process is not None
    status = Path(f"/proc/{cp.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def chunks(size: int, chunk: int = MiB) -> Iterator[bytes]:
    block = b"x" * chunk
    for _ in range(size // chunk):
        yield block


def post(url: str, content: bytes | Iterator[bytes], content_type: str) -> httpx.Response:
    """POST, answered even when the server refuses the body before it was all sent."""
    with httpx.Client(timeout=60) as client:
        return client.post(url, content=content, headers={"content-type": content_type})


def test_a_multipart_header_does_not_buy_the_upload_limit_on_the_events_route(plane: ControlPlane) -> None:
    before = peak_rss(plane)
    for reply in (
        post(f"{plane.url}/v1/events", chunks(BIG), MULTIPART),  # streamed: refused once past the limit
        post(f"{plane.url}/v1/runs", chunks(BIG), MULTIPART),
    ):
        assert reply.status_code == 413, reply.text
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.json()["field"] == "body"
    growth = peak_rss(plane) - before
    assert growth < 40 * MiB, f"the control plane's peak RSS grew by {growth / MiB:.0f} MiB"


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(plane: ControlPlane) -> None:
    reply = post(f"{plane.url}/v1/events", b"{" + b" " * (11 * MiB) + b"}", MULTIPART)
    assert reply.status_code == 413, reply.text
    assert "10485760" in reply.json()["detail"]


def test_upload_routes_still_take_files_past_the_json_limit(plane: ControlPlane) -> None:
    reply = post(f"{plane.url}/v1/files?name=big.bin", chunks(12 * MiB), "application/octet-stream")
    assert reply.status_code == 201, reply.text
    assert reply.json()["file"]["knflow.file"]["size"] == 12 * MiB
