"""The Kubernetes client waits out 429s (an API server throttling, or a CRD's storage still initialising)
as the server asks, against a real loopback HTTP server playing the API server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from knflow_control_plane.adapters.knative.kubernetes import KubeApiError, KubeClient, KubeConfig


class ApiServer:
    """Answers GETs with the next status of ``statuses`` (429s carry ``Retry-After: 0.1``), then 200."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                status = outer.statuses.pop(0) if outer.statuses else 200
                body = json.dumps({"kind": "Status", "message": "storage is (re)initializing"}).encode()
                if status == 200:
                    body = json.dumps({"kind": "List", "items": []}).encode()
                self.send_response(status)
                if status == 429:
                    self.send_header("retry-after", "0.1")
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def api() -> Iterator[ApiServer]:
    server = ApiServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


async def test_429s_are_waited_out(api: ApiServer) -> None:
    api.statuses = [429, 429, 429]
    client = KubeClient(KubeConfig(url=api.url, token="t"))
    try:
        assert (await client.get("/api/v1/namespaces/x/pods"))["kind"] == "List"
    finally:
        await client.close()
    assert api.requests == 4


async def test_a_server_that_keeps_throttling_gets_a_clear_error(api: ApiServer) -> None:
    api.statuses = [429] * 20
    client = KubeClient(KubeConfig(url=api.url, token="t"))
    try:
        with pytest.raises(KubeApiError) as caught:
            await client.get("/api/v1/namespaces/x/pods")
    finally:
        await client.close()
    assert caught.value.code == 429
    assert api.requests == 10
