"""The process around the server: env-var start, load errors, async reply mode, SIGTERM drain."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.e2e.runtime.runtime_support import HERE, RuntimeProcess, decode, invoke, invoke_request, runtime_env

from knflow.wire import FAILED, SUCCEEDED


class Receiver:
    """A tiny asyncio HTTP server standing in for the control plane's callback endpoint."""

    def __init__(self, statuses: list[int] | None = None):
        self.statuses = list(statuses or [])
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        self.arrived = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/callback?sig=secret"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        lines = head.split("\r\n")[1:]
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        status = self.statuses.pop(0) if self.statuses else 200
        self.received.append((headers, body, status))
        writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        if status == 200:
            self.arrived.set()

    async def wait(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self.arrived.wait(), timeout)
        self.arrived.clear()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    callback = Receiver(statuses=[503])  # the first delivery fails: the runtime must retry
    yield callback
    await callback.close()


async def test_async_reply_mode_answers_202_then_posts_the_result(
    client: httpx.AsyncClient, sync_url: str, receiver: Receiver
) -> None:
    url = await receiver.start()
    headers, body = invoke_request({"op": "sleep", "seconds": 0.2, "tag": "late"}, reply={"url": url, "token": "tok"})
    response = await client.post(sync_url + "/", headers=headers, content=body)
    assert response.status_code == 202
    assert response.json() == {"accepted": headers["ce-id"]}

    await receiver.wait()
    assert [status for _, _, status in receiver.received] == [503, 200]
    sent_headers, sent_body, _ = receiver.received[-1]
    assert sent_headers["authorization"] == "Bearer tok"
    event_type, data, invoke_id = decode(sent_headers, sent_body)
    assert (event_type, invoke_id) == (SUCCEEDED, headers["ce-id"])
    assert data["outputs"]["tag"] == "late"

    # Asked again (the control plane missed it?): 202, and the same result is sent again, not re-run.
    again = await client.post(sync_url + "/", headers=headers, content=body)
    assert again.status_code == 202
    await receiver.wait()
    assert receiver.received[-1][1] == sent_body


async def test_start_from_environment_variables(client: httpx.AsyncClient) -> None:
    process = RuntimeProcess("plain", env={"KNFLOW_CONCURRENCY": "3"}, via_env=True)
    try:
        await asyncio.to_thread(process.wait_ready)
        assert "action=plain" in process.output()
        assert "concurrency=3" in process.output()
        event_type, data = await invoke(client, process.url, {"value": 21})
        assert event_type == SUCCEEDED
        assert data["outputs"] == {"result": 42}
    finally:
        assert process.stop() == 0


def test_an_action_that_cannot_be_loaded_exits_1_with_the_reason() -> None:
    command = [sys.executable, "-m", "knflow_runtime", "--action", "actions_fixture:missing", "--code-path", str(HERE)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False, env=runtime_env())
    assert done.returncode == 1
    assert "module 'actions_fixture' has no attribute 'missing'" in done.stderr
    bad = subprocess.run(
        [*command[:3], "--action", "nocolon"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=runtime_env(),
    )
    assert bad.returncode == 2
    assert "module:function" in bad.stderr


async def test_sigterm_drains_in_flight_work_refuses_new_and_exits_0(client: httpx.AsyncClient) -> None:
    process = await asyncio.to_thread(RuntimeProcess("sync_ops").wait_ready)
    receiver = Receiver()
    try:
        url = await receiver.start()
        headers, body = invoke_request(
            {"op": "sleep", "seconds": 0.8, "tag": "reply"}, reply={"url": url, "token": "t"}
        )
        assert (await client.post(process.url + "/", headers=headers, content=body)).status_code == 202
        in_flight = asyncio.create_task(invoke(client, process.url, {"op": "sleep", "seconds": 1.0, "tag": "sync"}))
        await asyncio.sleep(0.5)  # the sync invocation is running by now
        process.terminate()
        await asyncio.sleep(0.2)

        readiness = await client.get(process.url + "/health/readiness")
        assert readiness.status_code == 503
        assert readiness.json()["status"] == "draining"
        refused = await client.post(process.url + "/", headers=invoke_request({"op": "sleep"})[0], content=body)
        assert refused.status_code == 503
        assert refused.json()["title"] == "draining"

        event_type, data = await in_flight
        assert event_type == SUCCEEDED
        assert data["outputs"]["tag"] == "sync"
        code = await asyncio.to_thread(process.process.wait, 15)
        assert code == 0
        # The async reply was delivered before the process went away.
        assert len(receiver.received) == 1
        assert json.loads(receiver.received[0][1])["outputs"]["tag"] == "reply"
    finally:
        await receiver.close()
        process.stop()


async def test_a_failed_result_is_delivered_in_reply_mode(client: httpx.AsyncClient, async_url: str) -> None:
    receiver = Receiver()
    try:
        url = await receiver.start()
        headers, body = invoke_request({"op": "fail", "code": 409}, reply={"url": url, "token": "t"})
        assert (await client.post(async_url + "/", headers=headers, content=body)).status_code == 202
        await receiver.wait()
        event_type, data, _ = decode(receiver.received[0][0], receiver.received[0][1])
        assert event_type == FAILED
        assert data["error"]["code"] == 409
    finally:
        await receiver.close()
