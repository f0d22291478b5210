"""Files through presigned URLs: inputs downloaded for the action, outputs uploaded, temp dir removed."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from tests.e2e.runtime.runtime_support import invoke

from knflow.wire import FAILED, SUCCEEDED


class FileStore:
    """A loopback HTTP server standing in for presigned object-store URLs (GET and PUT by path)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        store = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = store.objects.get(self.path.partition("?")[0])
                self.send_response(200 if data is not None else 404)
                self.send_header("content-length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

            def do_PUT(self) -> None:
                path = self.path.partition("?")[0]
                store.objects[path] = self.rfile.read(int(self.headers["content-length"]))
                store.content_types[path] = self.headers["content-type"]
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}?X-Signature=secret"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def store() -> Iterator[FileStore]:
    files = FileStore()
    yield files
    files.close()


def _ref(key: str, name: str) -> dict[str, object]:
    return {"knflow.file": {"key": key, "name": name, "content_type": "text/plain", "size": None}}


async def test_inputs_are_downloaded_and_outputs_uploaded(
    client: httpx.AsyncClient, files_url: str, store: FileStore
) -> None:
    store.objects["/in/a.txt"] = b"hello file"
    store.objects["/in/b.txt"] = b"nested content"
    inputs = {"source": _ref("runs/1/a", "a.txt"), "extra": {"nested": [_ref("runs/1/b", "b.txt")]}}
    event_type, data = await invoke(
        client,
        files_url,
        inputs,
        files={"runs/1/a": {"get": store.url("/in/a.txt")}, "runs/1/b": {"get": store.url("/in/b.txt")}},
        uploads={
            "copy": {"put": store.url("/out/copy"), "key": "runs/1/copy"},
            "note": {"put": store.url("/out/note"), "key": "runs/1/note"},
        },
    )
    assert event_type == SUCCEEDED, data
    outputs = data["outputs"]
    assert store.objects["/out/copy"] == b"HELLO FILE"
    assert store.content_types["/out/copy"] == "text/plain"
    assert store.objects["/out/note"] == b"from memory"
    assert outputs["copy"] == {
        "knflow.file": {"key": "runs/1/copy", "name": "copy.txt", "content_type": "text/plain", "size": 10}
    }
    assert outputs["note"]["knflow.file"]["key"] == "runs/1/note"
    assert outputs["passthrough"]["knflow.file"]["key"] == "runs/1/a"  # an input handed on by reference
    assert outputs["nested_text"] == "nested content"
    assert not os.path.exists(outputs["workdir"])  # the per-invocation temp dir is gone


async def test_a_new_file_output_without_an_upload_slot_fails_clearly(
    client: httpx.AsyncClient, files_url: str, store: FileStore
) -> None:
    store.objects["/in/a.txt"] = b"x"
    event_type, data = await invoke(
        client,
        files_url,
        {"source": _ref("k/a", "a.txt"), "bare": True},
        files={"k/a": {"get": store.url("/in/a.txt")}},
    )
    assert event_type == FAILED
    error = data["error"]
    assert error["type"] == "OutputError"
    assert error["message"].startswith("output 'unstored': a new File needs an upload slot")
    assert error["retryable"] is False


async def test_a_failed_download_is_retryable_and_hides_the_signature(
    client: httpx.AsyncClient, files_url: str, store: FileStore
) -> None:
    event_type, data = await invoke(
        client, files_url, {"source": _ref("k/gone", "gone.txt")}, files={"k/gone": {"get": store.url("/missing")}}
    )
    assert event_type == FAILED
    error = data["error"]
    assert error["type"] == "knflow_runtime.errors.FileTransferError"
    assert "cannot download input file 'k/gone'" in error["message"]
    assert "404" in error["message"]
    assert "secret" not in error["message"]
    assert error["retryable"] is True
