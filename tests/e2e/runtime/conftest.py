"""Runtime processes shared by the e2e tests: started together (in parallel) once per session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from tests.e2e.runtime.runtime_support import RuntimeProcess

# action -> extra command-line arguments / environment; each is one runtime process.
SHARED = {
    "greet": ((), {"KNFLOW_MAX_BODY": "65536"}),
    "sync_ops": ((), {}),
    "async_ops": ((), {}),
    "limited": (("--concurrency", "2"), {}),
    "copy_file": ((), {}),
}


@pytest.fixture(scope="session")
def runtimes() -> Iterator[dict[str, RuntimeProcess]]:
    started = {
        name: RuntimeProcess("sync_ops" if name == "limited" else name, *args, env=env)
        for name, (args, env) in SHARED.items()
    }
    try:
        yield {name: process.wait_ready() for name, process in started.items()}
    finally:
        for process in started.values():
            process.terminate()
        for process in started.values():
            process.stop()


@pytest.fixture
def greet_url(runtimes: dict[str, RuntimeProcess]) -> str:
    return runtimes["greet"].url


@pytest.fixture
def sync_url(runtimes: dict[str, RuntimeProcess]) -> str:
    return runtimes["sync_ops"].url


@pytest.fixture
def async_url(runtimes: dict[str, RuntimeProcess]) -> str:
    return runtimes["async_ops"].url


@pytest.fixture
def limited_url(runtimes: dict[str, RuntimeProcess]) -> str:
    return runtimes["limited"].url


@pytest.fixture
def files_url(runtimes: dict[str, RuntimeProcess]) -> str:
    return runtimes["copy_file"].url


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # Plain HTTP only: skipping TLS set-up saves loading the CA bundle for every test.
    async with httpx.AsyncClient(timeout=30.0, verify=False) as http:
        yield http
