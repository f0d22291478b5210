"""Objects stream through the local store: a 64 MiB object never sits whole in memory."""

from __future__ import annotations

import hashlib
import resource
import tracemalloc
from collections.abc import AsyncIterator

import httpx

from knflow_control_plane.adapters.objects.local import LocalObjectStore

MiB = 1024 * 1024
SIZE = 64 * MiB
LIMIT = 32 * MiB


async def stream(size: int, chunk: int = 256 * 1024) -> AsyncIterator[bytes]:
    block = hashlib.sha256(b"seed").digest() * (chunk // 32)
    for _ in range(size // chunk):
        yield block


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


async def test_put_and_get_of_64_mib_stay_well_under_its_size(local_store: LocalObjectStore) -> None:
    rss_before = peak_rss()
    tracemalloc.start()
    try:
        info = await local_store.put("mem/direct.bin", stream(SIZE))
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        size = 0
        async for chunk in await local_store.get("mem/direct.bin"):
            size += len(chunk)
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == size == SIZE
    assert put_peak < LIMIT, f"put peaked at {put_peak / MiB:.1f} MiB of Python allocations"
    assert get_peak < LIMIT, f"get peaked at {get_peak / MiB:.1f} MiB of Python allocations"
    growth = peak_rss() - rss_before
    assert growth < LIMIT, f"peak RSS grew by {growth / MiB:.1f} MiB"


async def test_64_mib_through_signed_urls_over_http(local_store: LocalObjectStore) -> None:
    """Upload and download through LocalObjectsApp under uvicorn (client and server in this process)."""
    rss_before = peak_rss()
    tracemalloc.start()
    try:
        put_url = await local_store.presign_put("mem/http.bin", 60, max_size=SIZE)
        async with httpx.AsyncClient(timeout=60) as http:
            reply = await http.put(put_url, content=stream(SIZE))
            assert reply.status_code == 200, reply.text
            size = 0
            async with http.stream("GET", await local_store.presign_get("mem/http.bin", 60)) as download:
                assert download.status_code == 200
                async for chunk in download.aiter_raw():
                    size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == SIZE
    assert (await local_store.info("mem/http.bin")).size == SIZE
    assert peak < LIMIT, f"HTTP round trip peaked at {peak / MiB:.1f} MiB of Python allocations"
    growth = peak_rss() - rss_before
    assert growth < LIMIT, f"peak RSS grew by {growth / MiB:.1f} MiB"
