"""What knflow's layer over lightkube adds at the edge, against a real loopback HTTP server playing the API
server: the write parameters (strict field validation, field manager, dry run), a rotated token file read
again on 401, the API server's message carried by ``KubeApiError``, and an unreachable server reported as
``KubeUnavailable``."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from knflow_control_plane.adapters.knative.kubernetes import KubeApiError, KubeClient, KubeConfig, KubeUnavailable

REFUSAL = "admission webhook refused: spec.template.metadata.annotations: min-scale must be >= 0"


class ApiServer:
    """Records each request (method, query, Authorization) and answers as ``answer`` says."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, list[str]], str]] = []
        self.token = "first"  # the only bearer token accepted
        self.refuse = False  # answer writes with a 422 Status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                query = parse_qs(urlsplit(self.path).query)
                outer.seen.append((self.command, query, self.headers.get("authorization", "")))
                status, reply = 200, body or {"kind": "Service", "metadata": {"name": "x"}}
                if self.headers.get("authorization") != f"Bearer {outer.token}":
                    status, reply = 401, {"kind": "Status", "reason": "Unauthorized", "message": "Unauthorized"}
                elif outer.refuse and self.command != "GET":
                    status, reply = 422, {"kind": "Status", "reason": "BadRequest", "message": REFUSAL}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def do_PATCH(self) -> None:
                self._answer()

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


SERVICES = "/apis/serving.knative.dev/v1/namespaces/f/services"


async def test_writes_are_strict_under_knflow_s_field_manager_and_dry_runs_say_so(api: ApiServer) -> None:
    client = KubeClient(KubeConfig(url=api.url, token="first"))
    try:
        await client.create(SERVICES, {"kind": "Service"}, dry_run=True)
        await client.merge_patch(f"{SERVICES}/x", {"metadata": {"labels": {"a": "b"}}})
    finally:
        await client.close()
    (_, created, _), (_, patched, _) = api.seen
    assert created == {"fieldManager": ["knflow"], "fieldValidation": ["Strict"], "dryRun": ["All"]}
    assert patched == {"fieldManager": ["knflow"], "fieldValidation": ["Strict"]}


async def test_a_rotated_token_file_is_read_again_when_the_server_answers_401(api: ApiServer, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    client = KubeClient(KubeConfig(url=api.url, token_file=token))
    try:
        await client.get(f"{SERVICES}/x")
        token.write_text("second\n")  # the kubelet rotated the projected token
        api.token = "second"
        assert (await client.get(f"{SERVICES}/x"))["metadata"]["name"] == "x"
    finally:
        await client.close()
    assert [auth for _, _, auth in api.seen] == ["Bearer first", "Bearer first", "Bearer second"]


async def test_an_error_carries_the_api_server_s_own_message(api: ApiServer) -> None:
    api.refuse = True
    client = KubeClient(KubeConfig(url=api.url, token="first"))
    try:
        with pytest.raises(KubeApiError) as caught:
            await client.create(SERVICES, {"kind": "Service"})
    finally:
        await client.close()
    assert (caught.value.code, caught.value.reason, caught.value.detail) == (422, "BadRequest", REFUSAL)
    assert REFUSAL in str(caught.value)


async def test_a_server_that_cannot_be_reached_is_unavailable_after_a_few_tries() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = KubeClient(KubeConfig(url=f"http://127.0.0.1:{port}", token="t"))
    try:
        with pytest.raises(KubeUnavailable, match="unreachable"):
            await client.get(f"{SERVICES}/x")
    finally:
        await client.close()
