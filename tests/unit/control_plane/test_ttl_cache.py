"""The read-through cache of deployments and routes: fresh entries are reused, stale ones read again."""

from __future__ import annotations

import asyncio

from knflow_control_plane.service.ttl_cache import TtlCache


async def test_entries_are_reused_until_they_expire_or_are_cleared() -> None:
    now = [0.0]
    reads: list[str] = []
    cache: TtlCache[str, str] = TtlCache(1.0, size=2, clock=lambda: now[0])

    async def load(key: str) -> str:
        reads.append(key)
        return key.upper()

    assert await cache.get("a", lambda: load("a")) == "A"
    assert await cache.get("a", lambda: load("a")) == "A"
    assert reads == ["a"]
    now[0] = 1.5
    assert await cache.get("a", lambda: load("a")) == "A"
    assert reads == ["a", "a"]
    await cache.get("b", lambda: load("b"))
    await cache.get("c", lambda: load("c"))  # over the size: the oldest ("a") goes
    await cache.get("a", lambda: load("a"))
    assert reads == ["a", "a", "b", "c", "a"]
    cache.clear()
    await cache.get("c", lambda: load("c"))
    assert reads[-1] == "c" and len(reads) == 6


async def test_none_is_a_value_too() -> None:
    reads = 0
    cache: TtlCache[str, str | None] = TtlCache(10.0)

    async def missing() -> str | None:
        nonlocal reads
        reads += 1
        return None

    assert await cache.get("x", missing) is None
    assert await cache.get("x", missing) is None
    assert reads == 1


async def test_concurrent_misses_of_one_key_share_one_load() -> None:
    reads = 0
    gate = asyncio.Event()
    cache: TtlCache[str, int] = TtlCache(10.0)

    async def load() -> int:
        nonlocal reads
        reads += 1
        await gate.wait()
        return reads

    waiting = [asyncio.create_task(cache.get("k", load)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == [1] * 50
    assert reads == 1


async def test_a_failed_load_fails_its_waiters_and_the_next_get_loads_again() -> None:
    gate = asyncio.Event()
    cache: TtlCache[str, int] = TtlCache(10.0)

    async def broken() -> int:
        await gate.wait()
        raise ConnectionError("store down")

    waiting = [asyncio.create_task(cache.get("k", broken)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)

    async def fine() -> int:
        return 7

    assert await cache.get("k", fine) == 7


async def test_a_load_begun_before_a_clear_is_not_cached() -> None:
    gate = asyncio.Event()
    cache: TtlCache[str, str] = TtlCache(10.0)

    async def old() -> str:
        await gate.wait()
        return "old"

    async def new() -> str:
        return "new"

    first = asyncio.create_task(cache.get("k", old))
    await asyncio.sleep(0)
    cache.clear()  # e.g. a deploy on this replica while the read was under way
    gate.set()
    assert await first == "old"
    assert await cache.get("k", new) == "new"
