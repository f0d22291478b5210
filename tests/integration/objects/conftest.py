"""Object stores for the contract suite: ``local`` in a temp dir, its signed URLs served by a real uvicorn
on a loopback port, and ``s3`` on a fresh bucket of the moto server started by ``scripts/services/s3.sh``."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from knflow_control_plane.adapters.objects.local import LocalObjectStore
from knflow_control_plane.adapters.objects.s3 import S3ObjectStore
from knflow_control_plane.entrypoints.objects_app import LocalObjectsApp
from knflow_control_plane.ports.objects import ObjectStore

from .s3_service import s3_endpoint

SECRET = b"test-secret-of-32-bytes-at-least!"


class FakeClock:
    """A settable Unix time, so that URL expiry is tested without sleeping."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def local_store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[LocalObjectStore]:
    """A local store whose URLs are served over real HTTP, mounted at /v1/objects as in the control plane."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    store = LocalObjectStore(tmp_path / "objects", f"http://127.0.0.1:{port}", SECRET, clock=clock)
    app = Starlette(routes=[Mount("/v1/objects", app=LocalObjectsApp(store))])
    config = uvicorn.Config(app, lifespan="off", ws="none", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises what stopped the server
        await asyncio.sleep(0.01)
    try:
        yield store
    finally:
        server.should_exit = True
        await task
        sock.close()
        await store.close()


@pytest.fixture
async def s3_store() -> AsyncIterator[S3ObjectStore]:
    """A store on a fresh bucket, emptied afterwards (moto keeps objects in memory)."""
    store = S3ObjectStore(
        f"t-{secrets.token_hex(6)}",
        endpoint_url=s3_endpoint(),
        access_key="test",
        secret_key="test",
        create_bucket=True,
    )
    await store.start()
    try:
        yield store
    finally:
        for info in await store.list():
            await store.delete(info.key)
        await store._client.delete_bucket(Bucket=store.bucket)
        await store.close()


@pytest.fixture(params=["local", "s3"])
def object_store(request: pytest.FixtureRequest) -> ObjectStore:
    store: ObjectStore = request.getfixturevalue(f"{request.param}_store")
    return store
